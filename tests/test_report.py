"""report.py: the job's first error, a failed state write after it, and the counts."""

from __future__ import annotations

from glue_runtime.batchcount import BatchCounts
from glue_runtime.errors import Interrupted, StateError, TapFailed
from glue_runtime.report import Outcome, Streams
from glue_runtime.secrets import Redactor


def _redactor() -> Redactor:
    r = Redactor()
    r.add({"hunter2-secret"})
    return r


def test_the_first_cause_is_kept_and_masked():
    outcome = Outcome(_redactor())
    outcome.fail(TapFailed("tap-x printed hunter2-secret", hint="rotate hunter2-secret"))
    outcome.fail(TapFailed("a consequence"))
    assert outcome.error is not None
    assert "hunter2-secret" not in outcome.error.message + str(outcome.error.hint)
    assert "a consequence" not in outcome.error.message
    assert outcome.status == "failed"


def test_a_state_write_failing_after_the_cause_is_appended_once():
    outcome = Outcome(_redactor())
    outcome.fail(TapFailed("tap-x exited with code 2; its last confirmed state was committed"))
    failed = StateError("cannot write state.json: disk full")
    outcome.fail_state(failed)
    outcome.fail_state(StateError("cannot write state.json: disk full"))  # again at the end
    assert outcome.error is not None
    assert outcome.error.message.count("and then: cannot write state.json: disk full") == 1


def test_a_state_write_failing_first_is_the_cause():
    outcome = Outcome(Redactor())
    failed = StateError("cannot write state.json: disk full")
    outcome.fail_state(failed)
    assert outcome.error is failed


def test_an_interruption_is_its_own_status():
    outcome = Outcome(Redactor())
    assert outcome.status == "success"
    outcome.fail(Interrupted("interrupted by SIGTERM"))
    assert outcome.status == "interrupted"


def test_counts_out_and_batch_rows_add_to_the_streams():
    streams = Streams()
    streams.new("a").records_in = 2
    streams.add_out({"a": 2, "b": 1})
    streams.add_batches({"a": BatchCounts(rows=10, files=1)}, {"a": BatchCounts(rows=10, files=1)})
    a, b = streams.stats["a"], streams.stats["b"]
    assert (a.records_in, a.records_out, a.batch_files_in, a.batch_files_out) == (12, 12, 1, 1)
    assert (b.records_in, b.records_out) == (0, 1)
