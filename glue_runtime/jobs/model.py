"""What a job is: one run of a flow for a tenant's linked source, as the store records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
STATUSES: tuple[Status, ...] = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
)
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
ENDED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})

SyncType = Literal["incremental", "full", "reset"]
SYNC_TYPES: tuple[SyncType, ...] = ("incremental", "full", "reset")
"""hotglue's sync types: ``incremental`` from the bookmarks (default); ``full`` ignores the
chosen streams' bookmarks (all streams' when none are chosen) and keeps the others';
``reset`` clears the chosen streams' state before the run."""

StartedBy = Literal["cli", "api", "trigger", "schedule", "rerun", "python"]


@dataclass(frozen=True)
class JobRequest:
    """What to run: the arguments of every way a job starts (CLI, API, trigger, schedule)."""

    flow: str
    tenant: str
    connector: str
    started_by: StartedBy = "python"
    started_ref: str = ""  # the service key's name, the trigger's or schedule's id, ...
    sync_type: SyncType = "incremental"
    streams: tuple[str, ...] | None = None  # None: every selected stream
    start_date: str | None = None  # override for this job only; never saved
    not_before: float | None = None  # debounce: do not start before this time
    rerun_of: str | None = None
    attempt: int = 1


@dataclass
class Job:
    """A job's record (a row of the ``jobs`` table, JSON columns decoded)."""

    id: str
    flow: str
    tenant: str
    connector: str
    status: Status
    started_by: str
    started_ref: str
    sync_type: SyncType
    streams: list[str] | None
    start_date: str | None
    folded: int
    rerun_of: str | None
    attempt: int
    created_at: float
    not_before: float
    started_at: float | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    worker: str | None = None
    cancel_requested: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """``flow/tenant/connector``: the state key, and the unit of "one active run"."""
        return f"{self.flow}/{self.tenant}/{self.connector}"

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else None
        return None if end is None else end - self.started_at

    def as_dict(self) -> dict[str, Any]:
        """The job as the API and ``glue jobs show --json`` give it (no secrets: none are kept)."""
        return {
            "id": self.id,
            "flow": self.flow,
            "tenant": self.tenant,
            "connector": self.connector,
            "status": self.status,
            "started_by": self.started_by,
            "started_ref": self.started_ref,
            "sync_type": self.sync_type,
            "streams": self.streams,
            "start_date": self.start_date,
            "folded": self.folded,
            "rerun_of": self.rerun_of,
            "attempt": self.attempt,
            "created_at": self.created_at,
            "not_before": self.not_before,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "heartbeat_at": self.heartbeat_at,
            "worker": self.worker,
            "cancel_requested": self.cancel_requested,
            "counts": self.counts,
            "error": self.error,
            "exit_code": self.exit_code,
            "state_before": self.state_before,
            "state_after": self.state_after,
        }
