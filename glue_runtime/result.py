"""What a job reports when it ends: status, per-stream counts, duration, state, error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glue_runtime.errors import GlueError
from glue_runtime.stages.stats import StageStats


@dataclass
class StreamStats:
    """Counts for one stream. ``records_in`` came from the tap; ``records_out`` went to targets.

    Rows in the files of BATCH messages are included where they could be counted (local
    jsonl or parquet files); ``batch_files_*`` count the files, ``batch_uncounted_*`` those
    whose rows are not in the record counts (see batchcount.py).
    """

    name: str
    records_in: int = 0
    records_out: int = 0
    schemas: int = 0
    dropped_fields: int = 0
    started_at: float = 0.0
    batch_files_in: int = 0
    batch_files_out: int = 0
    batch_uncounted_in: int = 0
    batch_uncounted_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "schemas": self.schemas,
            "dropped_fields": self.dropped_fields,
        }
        if self.batch_files_in or self.batch_files_out:  # only for streams that had BATCH
            out["batch_files_in"] = self.batch_files_in
            out["batch_files_out"] = self.batch_files_out
            out["batch_uncounted_in"] = self.batch_uncounted_in
            out["batch_uncounted_out"] = self.batch_uncounted_out
        return out

    def describe_in(self) -> str:
        """Records in, for people: ``1,200``, ``batch files: 3`` or ``1,200 + batch files: 3``."""
        return describe_count(self.records_in, self.batch_uncounted_in)

    def describe_out(self) -> str:
        return describe_count(self.records_out, self.batch_uncounted_out)


def describe_count(records: int, uncounted_files: int) -> str:
    """A record count, with the batch files whose rows are unknown (never a plain 0 then)."""
    if not uncounted_files:
        return f"{records:,}"
    if not records:
        return f"batch files: {uncounted_files:,}"
    return f"{records:,} + batch files: {uncounted_files:,}"


@dataclass
class JobResult:
    """The outcome of one run. ``status`` is ``success``, ``failed`` or ``interrupted``."""

    job_id: str
    status: str
    duration_s: float
    streams: dict[str, StreamStats] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    state_key: str | None = None
    state_location: str | None = None
    state_commits: int = 0
    error: GlueError | None = None
    started: bool = True  # False when it failed before any connector started (a config error)
    # Things a user must know about a run that still succeeded (bookmarks that did not move,
    # records passed on without a schema), also logged as they happen.
    warnings: list[str] = field(default_factory=list)
    # What each of the job's stages did (field map, ETL: records in/out/dropped/invalid per
    # input stream, time); a field map and an ETL fused into one stage report as one.
    stages: list[StageStats] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok or self.error is None else self.error.exit_code

    @property
    def records_in(self) -> int:
        return sum(s.records_in for s in self.streams.values())

    @property
    def records_out(self) -> int:
        return sum(s.records_out for s in self.streams.values())

    @property
    def batch_uncounted_in(self) -> int:
        """Batch files from the tap whose rows are not in ``records_in`` (not countable here)."""
        return sum(s.batch_uncounted_in for s in self.streams.values())

    @property
    def batch_uncounted_out(self) -> int:
        return sum(s.batch_uncounted_out for s in self.streams.values())

    def raise_for_status(self) -> JobResult:
        """Raise the job's error if it failed; return self otherwise (for chaining)."""
        if self.error is not None and not self.ok:
            raise self.error
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "records_in": self.records_in,
            "records_out": self.records_out,
            "streams": {name: s.as_dict() for name, s in self.streams.items()},
            "state_key": self.state_key,
            "state_location": self.state_location,
            "state_commits": self.state_commits,
            "state": self.state,
            "warnings": list(self.warnings),
            "stages": [s.as_dict() for s in self.stages],
            "error": None
            if self.error is None
            else {"kind": self.error.kind, "message": str(self.error), "exit_code": self.exit_code},
        }
