"""Per-tenant schedule overrides in the store (hotglue's per-tenant schedules).

An override gives one tenant another cron expression or interval (and timezone), or turns
the schedule off or on for them (on also includes a tenant glue.yml's ``tenants:`` leaves
out). The row for tenant ``*`` pauses or resumes the whole schedule. Clearing an override
keeps its row with nothing set: its ``updated_at`` still says since when the tenant's
current timing applies, so clearing (or resuming) never fires the latest tick at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.service.schedules.model import Schedule, parse_timing
from glue_runtime.service.schedules.tables import ALL_TENANTS, schedule_overrides
from glue_runtime.service.schedules.timing import Timing, zone
from glue_runtime.workspace.store import Store


@dataclass(frozen=True)
class Override:
    """One tenant's override of one schedule (or the whole schedule's, tenant ``*``)."""

    flow: str
    schedule: str
    tenant: str
    cron: str | None = None
    every_s: int | None = None
    timezone: str | None = None
    enabled: bool | None = None
    updated_at: float = 0.0
    updated_by: str = ""

    @property
    def empty(self) -> bool:
        """Nothing overridden (a cleared override)."""
        return (self.cron, self.every_s, self.timezone, self.enabled) == (None,) * 4

    def timing(self, base: Timing) -> Timing:
        """``base`` (glue.yml's timing) with this override's parts laid over it."""
        tz = self.timezone or base.timezone
        if self.cron is not None:
            return Timing(cron=self.cron, timezone=tz)
        if self.every_s is not None:
            return Timing(every_s=self.every_s, timezone=tz)
        return Timing(cron=base.cron, every_s=base.every_s, timezone=tz)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cron": self.cron,
            "every_s": self.every_s,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


def _override(r: Any) -> Override:
    return Override(
        flow=r.flow,
        schedule=r.schedule,
        tenant=r.tenant,
        cron=r.cron,
        every_s=r.every_s,
        timezone=r.timezone,
        enabled=r.enabled,
        updated_at=r.updated_at,
        updated_by=r.updated_by,
    )


def overrides(store: Store, *, flow: str | None = None) -> dict[tuple[str, str, str], Override]:
    """Every override, by (flow, schedule, tenant)."""
    query = sa.select(schedule_overrides)
    if flow is not None:
        query = query.where(schedule_overrides.c.flow == flow)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {(r.flow, r.schedule, r.tenant): _override(r) for r in rows}


def find_override(store: Store, schedule: Schedule, tenant: str) -> Override | None:
    found = overrides(store, flow=schedule.flow).get((schedule.flow, schedule.name, tenant))
    return found


def set_override(
    store: Store,
    schedule: Schedule,
    tenant: str,
    *,
    cron: str | None = None,
    every: Any = None,
    timezone: str | None = None,
    enabled: bool | None = None,
    clear: bool = False,
    by: str = "",
    now: float | None = None,
) -> Override:
    """Set (or with ``clear``, clear) ``tenant``'s override of ``schedule``; a cron expression
    replaces an interval and the other way round; what is not given stays as it was.
    ConfigError (nothing changed) for an unknown tenant or a bad expression, interval or zone."""
    if tenant != ALL_TENANTS:
        store.tenant(tenant)
    where = f"the override {schedule.flow}.{schedule.name}.{tenant}"
    old = find_override(store, schedule, tenant)
    values: dict[str, Any] = {"cron": None, "every_s": None, "timezone": None, "enabled": None}
    if old is not None and not clear:
        values = {k: getattr(old, k) for k in values}
    if cron is not None or every is not None:
        timing = parse_timing(cron, every, timezone or schedule.timing.timezone, where=where)
        values.update(cron=timing.cron, every_s=timing.every_s)
    if timezone is not None:
        zone(timezone, where=f"{where}.timezone")
        values["timezone"] = timezone
    if enabled is not None:
        values["enabled"] = enabled
    if tenant == ALL_TENANTS and (values["cron"], values["every_s"], values["timezone"]) != (
        None,
        None,
        None,
    ):
        raise ConfigError(f"{where}: the whole schedule's row only pauses or resumes it")
    stamp = time.time() if now is None else now
    key = {"flow": schedule.flow, "schedule": schedule.name, "tenant": tenant}
    with store.write() as conn:
        conn.execute(sa.delete(schedule_overrides).where(*_match(key)))
        conn.execute(
            sa.insert(schedule_overrides).values(**key, **values, updated_at=stamp, updated_by=by)
        )
    return Override(
        flow=schedule.flow,
        schedule=schedule.name,
        tenant=tenant,
        cron=values["cron"],
        every_s=values["every_s"],
        timezone=values["timezone"],
        enabled=values["enabled"],
        updated_at=stamp,
        updated_by=by,
    )


def _match(key: dict[str, str]) -> list[sa.ColumnElement[bool]]:
    return [schedule_overrides.c[name] == value for name, value in key.items()]
