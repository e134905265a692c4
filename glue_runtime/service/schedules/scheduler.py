"""The scheduler of ``glue serve``: fires each schedule's ticks for its tenants, once.

Each round (:meth:`Scheduler.tick`), for every (schedule, tenant) that is on, the latest tick
whose run is due (tick + the tenant's jitter <= now) fires unless it already did: a row in
``schedule_ticks`` claims it (its primary key refuses a second server's insert, which then
skips), then a job is queued for each of the tenant's linked sources (``records.enqueue``: a
still-queued run of the same source absorbs it). Only the latest due tick is looked at, so a
server that was down across several ticks fires once on start, and older ticks are never
backfilled. Tick rows older than a week are purged (the latest of each pair is kept: it is
what says the latest tick fired).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter

from glue_runtime.errors import ConfigError
from glue_runtime.jobs import records
from glue_runtime.jobs.model import JobRequest
from glue_runtime.protocol import dumps_exact
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.metrics import JOBS_STARTED, REGISTRY
from glue_runtime.service.schedules.model import workspace_schedules
from glue_runtime.service.schedules.plan import TenantSchedule, plan
from glue_runtime.service.schedules.tables import schedule_ticks
from glue_runtime.workspace.store import Store

log = logging.getLogger("glue_runtime.service.schedules")

TICKS = Counter(
    "glue_schedule_ticks_total",
    "Schedule ticks per tenant by outcome: fired (a job queued or folded), skipped (a paused "
    "or missing link), taken (another server had fired it).",
    ["outcome"],
    registry=REGISTRY,
)
KEEP_TICKS_S = 7 * 86400.0
PURGE_EVERY_S = 3600.0
POLL_S = 10.0


@dataclass
class Fired:
    """One tick fired for one tenant: the jobs it queued (or folded into) and what it skipped."""

    schedule: str
    tenant: str
    tick: int
    due_at: float
    jobs: list[str] = field(default_factory=list)
    new_jobs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.schedule, self.tenant)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "tenant": self.tenant,
            "tick": self.tick,
            "due_at": self.due_at,
            "jobs": self.jobs,
            "skipped": self.skipped,
        }


def _server() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def last_ticks(store: Store) -> dict[tuple[str, str], int]:
    """The latest tick fired per (schedule id, tenant)."""
    t = schedule_ticks
    query = sa.select(t.c.schedule, t.c.tenant, sa.func.max(t.c.tick)).group_by(
        t.c.schedule, t.c.tenant
    )
    with store.engine.connect() as conn:
        return {(r[0], r[1]): int(r[2]) for r in conn.execute(query)}


def claim_all(
    store: Store, due: list[tuple[TenantSchedule, int]], now: float, server: str
) -> list[tuple[TenantSchedule, int]]:
    """Record that each (entry, tick) fired, in one transaction (a savepoint each); those
    this server won, without the ones another server had already recorded."""
    won: list[tuple[TenantSchedule, int]] = []
    if not due:
        return won
    with store.write() as conn:
        for entry, tick in due:
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(schedule_ticks).values(
                            schedule=entry.schedule.id,
                            tenant=entry.tenant,
                            tick=tick,
                            due_at=tick + entry.offset_s,
                            fired_at=now,
                            server=server,
                            jobs="[]",
                            note="",
                        )
                    )
            except sa.exc.IntegrityError:
                continue  # another server fired it
            won.append((entry, tick))
    return won


def claim(store: Store, entry: TenantSchedule, tick: int, now: float, server: str) -> bool:
    """Record that ``tick`` fired for the entry's tenant; False when another server did."""
    return bool(claim_all(store, [(entry, tick)], now, server))


def unclaim(store: Store, one: Fired) -> None:
    """Forget a claimed tick whose jobs could not be queued, so a later round fires it; when
    the store cannot even do that, the tick is lost (logged), never fired twice."""
    t = schedule_ticks
    try:
        with store.write() as conn:
            conn.execute(
                sa.delete(t).where(
                    t.c.schedule == one.schedule, t.c.tenant == one.tenant, t.c.tick == one.tick
                )
            )
    except sa.exc.SQLAlchemyError:
        log.exception("schedule %s, tenant %s: tick %d is lost", one.schedule, one.tenant, one.tick)


def record(store: Store, fired: list[Fired]) -> None:
    """Write each fired tick's jobs and skips on its row."""
    if not fired:
        return
    t = schedule_ticks
    with store.write() as conn:
        for one in fired:
            conn.execute(
                sa.update(t)
                .where(t.c.schedule == one.schedule, t.c.tenant == one.tenant, t.c.tick == one.tick)
                .values(jobs=dumps_exact(one.jobs).decode(), note="; ".join(one.skipped))
            )


def purge(store: Store, now: float) -> int:
    """Delete tick rows older than a week that are not their pair's latest; how many."""
    t, newer = schedule_ticks, schedule_ticks.alias("newer")
    has_newer = (
        sa.select(newer.c.tick)
        .where(newer.c.schedule == t.c.schedule, newer.c.tenant == t.c.tenant)
        .where(newer.c.tick > t.c.tick)
        .exists()
    )
    with store.write() as conn:
        return conn.execute(sa.delete(t).where(t.c.tick < now - KEEP_TICKS_S, has_newer)).rowcount


class Scheduler:
    """The background part that fires schedules (``Scheduler(ctx)``, ``start``, ``stop``).

    :meth:`tick` is one synchronous round at ``now`` (``ctx.now()`` by default): what the loop
    runs every few seconds, and what tests call with a clock of their own.
    """

    def __init__(self, ctx: ServiceContext, *, poll_s: float = POLL_S) -> None:
        self.ctx = ctx
        self.poll_s = poll_s
        self.server = _server()
        self.schedules = workspace_schedules(ctx.opened.workspace)  # ConfigError at start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._purged_at = float("-inf")

    @property
    def store(self) -> Store:
        return self.ctx.opened.store

    # -- one round --------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Fired]:
        """Fire every due tick not fired yet; the ticks this round fired."""
        now = self.ctx.now() if now is None else now
        fired: list[Fired] = []
        if self.schedules:
            done = last_ticks(self.store)
            due = [
                (entry, tick)
                for entry in plan(self.store, self.schedules)
                if (tick := self._due(entry, now, done)) is not None
            ]
            won = claim_all(self.store, due, now, self.server)
            TICKS.labels("taken").inc(len(due) - len(won))
            for entry, tick in won:
                one = Fired(entry.schedule.id, entry.tenant, tick, tick + entry.offset_s)
                try:
                    self._enqueue(entry, now, one)
                except Exception:  # the store failed under us: let a later round try again
                    log.exception("schedule %s, tenant %s: could not queue", *one.key)
                    unclaim(self.store, one)
                    continue
                TICKS.labels("fired" if one.jobs else "skipped").inc()
                JOBS_STARTED.labels("schedule").inc(len(one.new_jobs))
                fired.append(one)
            record(self.store, fired)
        if now - self._purged_at >= PURGE_EVERY_S:
            self._purged_at = now
            purge(self.store, now)
        if any(f.new_jobs for f in fired):
            self._notify()
        return fired

    @staticmethod
    def _due(entry: TenantSchedule, now: float, done: dict[tuple[str, str], int]) -> int | None:
        """The entry's latest due tick, unless it is off or that tick already fired."""
        if not entry.enabled:
            return None
        tick = entry.latest_due(now)
        if tick is None or done.get((entry.schedule.id, entry.tenant), -1) >= tick:
            return None
        return tick

    def _enqueue(self, entry: TenantSchedule, now: float, fired: Fired) -> None:
        schedule = entry.schedule
        if not entry.connectors:
            fired.skipped.append(f"tenant '{entry.tenant}' has no linked source in the flow")
        for connector in entry.connectors:
            request = JobRequest(
                flow=schedule.flow,
                tenant=entry.tenant,
                connector=connector,
                started_by="schedule",
                started_ref=schedule.id,
                sync_type=schedule.sync_type,
                streams=schedule.streams,
            )
            try:
                job, new = records.enqueue(self.store, request, now=now)
            except ConfigError as exc:  # a paused link, a link removed meanwhile
                fired.skipped.append(f"{connector}: {exc.message}")
                continue
            fired.jobs.append(job.id)
            if new:
                fired.new_jobs.append(job.id)
        for why in fired.skipped:
            log.info("schedule %s, tenant %s: skipped (%s)", schedule.id, entry.tenant, why)
        if fired.jobs:
            log.info(
                "schedule %s fired for tenant %s: jobs %s",
                schedule.id,
                entry.tenant,
                ", ".join(fired.jobs),
            )

    def _notify(self) -> None:
        executor = self.ctx.extra.get("executor")
        notify = getattr(executor, "notify", None)
        if callable(notify):
            notify()

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run rounds in a thread of its own until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="glue-scheduler", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the loop (a round under way finishes first, up to ``grace_s``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(grace_s)
            self._thread = None

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                fired = self.tick()
                if first:
                    first = False
                    log.info(
                        "scheduler: %d schedules; the first round fired %d ticks",
                        len(self.schedules),
                        len(fired),
                    )
            except Exception:  # the store away for a moment, say: try again next round
                log.exception("scheduler round failed; trying again in %.0fs", self.poll_s)
            self._stop.wait(max(0.0, self.poll_s - (time.monotonic() - started)))
