"""Which tenant each schedule applies to, with what timing, from when: glue.yml's schedules
with the store's links and overrides laid over them.

A schedule applies to every tenant with a read link in its flow (to its ``connector`` when it
names one), existing tenants and those linked later alike, or to the tenants its ``tenants:``
lists; an override turns it off or on for one tenant, or gives them another timing. The
scheduler and ``glue schedules list`` read the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from glue_runtime.service.schedules.model import Schedule
from glue_runtime.service.schedules.overrides import Override, overrides
from glue_runtime.service.schedules.tables import ALL_TENANTS
from glue_runtime.service.schedules.timing import Timing
from glue_runtime.workspace.store import Store
from glue_runtime.workspace.tables import links


@dataclass(frozen=True)
class TenantSchedule:
    """One schedule as it applies to one tenant."""

    schedule: Schedule
    tenant: str
    timing: Timing
    enabled: bool
    connectors: tuple[str, ...]  # the tenant's linked sources the schedule starts
    since: float  # a tick due before this is not a missed run (link made, override changed)
    override: Override | None = None
    why_off: str = ""  # why it is off, when it is

    @property
    def offset_s(self) -> int:
        """This tenant's jitter: seconds after each tick its run is due."""
        return self.schedule.offset_s(self.tenant, self.timing)

    def latest_due(self, now: float) -> int | None:
        """The latest tick whose run (tick + jitter) is due at ``now``; None when that is
        before the schedule applied to the tenant (nothing was missed)."""
        offset = self.offset_s
        tick = self.timing.previous_shifted(now, offset)
        return tick if tick + offset >= self.since else None

    def next_due(self, now: float) -> float:
        """When the tenant's next run is due (tick + jitter), after ``now``."""
        offset = self.offset_s
        return self.timing.next(now - offset) + offset


@dataclass(frozen=True)
class _Link:
    flow: str
    tenant: str
    connector: str
    created_at: float


def _read_links(store: Store, flows: Iterable[str]) -> list[_Link]:
    query = sa.select(links.c.tenant, links.c.connector, links.c.created_at, links.c.flow).where(
        links.c.flow.in_(sorted(set(flows))), links.c.direction == "read"
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(links.c.tenant, links.c.connector)).all()
    return [_Link(r.flow, r.tenant, r.connector, r.created_at) for r in rows]


def plan(
    store: Store, schedules: Iterable[Schedule], *, tenant: str | None = None
) -> list[TenantSchedule]:
    """Each (schedule, tenant) pair a schedule applies to (the tenants it names, else those
    linked) or a tenant has an override of, on or off (of ``tenant`` only, when given), in
    schedule then tenant order."""
    chosen = list(schedules)
    if not chosen:
        return []
    flows = {s.flow for s in chosen}
    found = _read_links(store, flows)
    found_overrides: dict[tuple[str, str, str], Override] = {}
    for flow in flows:
        found_overrides.update(overrides(store, flow=flow))
    entries: list[TenantSchedule] = []
    for schedule in chosen:
        by_tenant: dict[str, list[_Link]] = {}
        for link in found:
            if link.flow == schedule.flow and schedule.connector in (None, link.connector):
                by_tenant.setdefault(link.tenant, []).append(link)
        mine = {
            k[2]: o for k, o in found_overrides.items() if k[:2] == (schedule.flow, schedule.name)
        }
        listed = set(by_tenant) if schedule.tenants is None else set(schedule.tenants)
        tenants = listed | {t for t in mine if t != ALL_TENANTS}
        if tenant is not None:
            tenants &= {tenant}
        for who in sorted(tenants):
            entries.append(
                _entry(schedule, who, by_tenant.get(who, []), mine.get(who), mine.get(ALL_TENANTS))
            )
    return entries


def _entry(
    schedule: Schedule,
    tenant: str,
    linked: list[_Link],
    override: Override | None,
    whole: Override | None,
) -> TenantSchedule:
    timing = override.timing(schedule.timing) if override else schedule.timing
    enabled, why = schedule.enabled and schedule.applies_to(tenant), ""
    if not schedule.enabled:
        why = "enabled: false in glue.yml"
    elif not enabled:
        why = "not in the schedule's tenants"
    if override is not None and override.enabled is not None:
        enabled = override.enabled
        why = "" if enabled else "turned off for this tenant"
    if whole is not None and whole.enabled is False:
        enabled, why = False, "the schedule is paused"
    stamps = [min((lk.created_at for lk in linked), default=0.0)]
    stamps += [o.updated_at for o in (override, whole) if o is not None]
    return TenantSchedule(
        schedule=schedule,
        tenant=tenant,
        timing=timing,
        enabled=enabled,
        connectors=tuple(lk.connector for lk in linked),
        since=max(stamps),
        override=override if override is not None and not override.empty else None,
        why_off="" if enabled else why,
    )
