"""The job log handler: redacted lines from the runtime and connectors, batched to the store."""

from __future__ import annotations

import logging

from glue_runtime.jobs.joblog import MAX_BATCH, JobLogHandler, capture, read_logs
from glue_runtime.secrets import Redactor


def test_lines_are_redacted_labelled_and_written_in_batches(jobs_ws) -> None:
    job = jobs_ws.queue("files")
    handler = JobLogHandler(jobs_ws.store, job.id, Redactor(["s3cr3t-value-42"]), lambda: 7.0)
    log = logging.getLogger("glue_runtime.test")
    with capture(handler):
        log.info("connecting with s3cr3t-value-42")
        log.warning("from the tap", extra={"connector": "tap-files"})
        log.debug("not kept: below INFO")
        assert read_logs(jobs_ws.store, job.id) == []  # nothing written from the logging thread
        for i in range(MAX_BATCH):
            log.info("line %d", i)
        assert handler.full.is_set()  # the job's watch thread writes the batch now
        handler.flush()
        assert not handler.full.is_set()
        log.info("after the batch")
    lines = read_logs(jobs_ws.store, job.id)  # the rest is written when the capture ends
    assert len(lines) == MAX_BATCH + 3
    assert [ln.id for ln in lines] == sorted(ln.id for ln in lines)
    first, second = lines[:2]
    assert (first.source, first.level, first.line) == ("runtime", "INFO", "connecting with ***")
    assert (second.source, second.level, second.at) == ("tap-files", "WARNING", 7.0)
    assert lines[-1].line == "after the batch"
    assert read_logs(jobs_ws.store, job.id, after=lines[-2].id) == [lines[-1]]
