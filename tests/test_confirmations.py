"""Which STATE is committed when several targets confirm at different times."""

from __future__ import annotations

from glue_runtime.runner import _Confirmations


class RecordingCommitter:
    def __init__(self) -> None:
        self.commits: list[dict] = []

    def commit(self, value: dict) -> None:
        self.commits.append(value)


def s(i: int) -> dict:
    return {"bookmarks": {"a": {"id": i}}}


def test_commits_the_newest_state_every_target_confirmed():
    c = RecordingCommitter()
    conf = _Confirmations(c, 2)  # type: ignore[arg-type]
    for i in range(1, 6):
        conf.sent_state(s(i))
    conf.target_emitted(0, s(1))
    conf.target_emitted(0, s(2))
    conf.target_emitted(0, s(3))
    assert c.commits == []  # target 1 has confirmed nothing yet
    conf.target_emitted(1, s(2))
    assert c.commits == [s(2)]
    conf.target_emitted(1, s(5))  # target 1 jumps ahead; target 0 is at 3
    assert c.commits == [s(2), s(3)]
    conf.target_emitted(0, s(5))
    assert c.commits == [s(2), s(3), s(5)]


def test_unknown_state_and_frozen_confirmations_commit_nothing():
    c = RecordingCommitter()
    conf = _Confirmations(c, 2)  # type: ignore[arg-type]
    conf.sent_state(s(1))
    conf.target_emitted(0, {"made": "up"})
    conf.target_emitted(1, s(1))
    assert c.commits == []
    conf.target_emitted(0, s(1))
    assert c.commits == [s(1)]
    conf.sent_state(s(2))
    conf.freeze()  # a target failed
    conf.target_emitted(0, s(2))
    conf.target_emitted(1, s(2))
    assert c.commits == [s(1)]


def test_single_target_commits_only_states_the_job_sent():
    c = RecordingCommitter()
    conf = _Confirmations(c, 1)  # type: ignore[arg-type]
    assert conf.target_emitted(0, s(7)) is False  # never sent: a log line, not a confirmation
    conf.sent_state(s(7))
    assert conf.target_emitted(0, s(7)) is True
    assert conf.target_emitted(0, s(7)) is True  # a repeat of its last confirmation is quiet
    assert c.commits == [s(7)]
