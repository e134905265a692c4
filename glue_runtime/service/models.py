"""The shapes of the jobs API's answers, for the OpenAPI document (and so the reference).

They describe ``Job.as_dict()``; ``extra="allow"`` keeps any field the jobs layer adds
later in the answers, documented or not yet.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobOut(BaseModel):
    """A job's record."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="16 random url-safe characters.")
    flow: str
    tenant: str
    connector: str
    status: str = Field(description="queued, running, succeeded, failed, cancelled, interrupted")
    started_by: str = Field(description="cli, api, trigger, schedule, rerun, python")
    started_ref: str = Field(description="The service key's name, trigger's or schedule's id.")
    sync_type: str = Field(description="incremental, full or reset")
    streams: list[str] | None = Field(description="The streams asked for; null: all selected.")
    start_date: str | None = Field(description="The start date override of this job, if any.")
    folded: int = Field(description="Starts folded into this job while it was queued.")
    rerun_of: str | None
    attempt: int
    created_at: float = Field(description="Seconds since the epoch, as every time here.")
    not_before: float = Field(description="Not started before this time (debounce).")
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    worker: str | None = Field(description="host:pid of the process running it.")
    cancel_requested: bool
    counts: dict[str, dict[str, int]] = Field(description="Per stream: records in, out, ...")
    error: str | None = Field(description="What went wrong (redacted).")
    exit_code: int | None
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None


class JobsOut(BaseModel):
    jobs: list[JobOut]


class JobPage(BaseModel):
    jobs: list[JobOut]
    next: str | None = Field(None, description="Pass as `before` for the next page.")
