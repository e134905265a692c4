"""What a job reports when it ends: status, per-stream counts, duration, state, error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glue_runtime.errors import GlueError


@dataclass
class StreamStats:
    """Counts for one stream. ``records_in`` came from the tap; ``records_out`` went to targets."""

    name: str
    records_in: int = 0
    records_out: int = 0
    schemas: int = 0
    dropped_fields: int = 0
    started_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "schemas": self.schemas,
            "dropped_fields": self.dropped_fields,
        }


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
            "error": None
            if self.error is None
            else {"kind": self.error.kind, "message": str(self.error), "exit_code": self.exit_code},
        }
