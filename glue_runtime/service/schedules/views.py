"""Schedules as ``glue schedules list`` and the API show them: per tenant, with the next run
in the schedule's timezone and the last tick fired."""

from __future__ import annotations

import datetime as dt
from typing import Any

from glue_runtime.service.schedules.model import Schedule, workspace_schedules
from glue_runtime.service.schedules.plan import TenantSchedule, plan
from glue_runtime.service.schedules.scheduler import last_ticks
from glue_runtime.workspace.open import Opened


def _iso(timing_local: dt.datetime) -> str:
    return timing_local.isoformat(timespec="seconds")


def describe(entry: TenantSchedule, now: float, last: int | None) -> dict[str, Any]:
    """One (schedule, tenant) as JSON: its timing, whether it is on, its next run."""
    timing = entry.timing
    next_due = entry.next_due(now) if entry.enabled else None
    return {
        "schedule": entry.schedule.name,
        "flow": entry.schedule.flow,
        "tenant": entry.tenant,
        "cron": timing.cron,
        "every_s": timing.every_s,
        "timezone": timing.timezone,
        "timing": timing.describe,
        "enabled": entry.enabled,
        "why_off": entry.why_off or None,
        "connectors": list(entry.connectors),
        "jitter_s": entry.offset_s,
        "next_run": None if next_due is None else _iso(timing.local(next_due)),
        "next_run_at": next_due,
        "last_tick": None if last is None else _iso(timing.local(last)),
        "override": None if entry.override is None else entry.override.as_dict(),
    }


def schedule_rows(
    opened: Opened,
    now: float,
    *,
    flow: str | None = None,
    tenant: str | None = None,
    schedules: list[Schedule] | None = None,
) -> list[dict[str, Any]]:
    """Every (schedule, tenant) of the workspace (or of ``flow``, or ``tenant``), described."""
    chosen = schedules if schedules is not None else workspace_schedules(opened.workspace, flow)
    last = last_ticks(opened.store)
    return [
        describe(e, now, last.get((e.schedule.id, e.tenant)))
        for e in plan(opened.store, chosen, tenant=tenant)
    ]
