"""The scheduler over a real store: a tick fires once however many servers run it, missed
runs fire once, schedules apply to existing and new tenants, overrides, skips, purging."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from glue_test_helpers import wait_until

from glue_runtime.jobs import records
from glue_runtime.jobs.executor import EmbeddedExecutor
from glue_runtime.jobs.settings import JobSettings
from glue_runtime.service.metrics import REGISTRY
from glue_runtime.service.schedules.model import find_schedule
from glue_runtime.service.schedules.overrides import overrides, set_override
from glue_runtime.service.schedules.plan import plan
from glue_runtime.service.schedules.scheduler import (
    KEEP_TICKS_S,
    Fired,
    Scheduler,
    claim,
    claim_all,
    purge,
)
from glue_runtime.service.schedules.tables import ALL_TENANTS, schedule_ticks
from glue_runtime.workspace.tables import links

from .conftest_schedules import HOURLY, T0, Scheduled, any_url, open_scheduled

__all__ = ["any_url"]  # a fixture

HOUR = 3600.0
PAST_JITTER = 301.0  # an hourly schedule's window is 5 minutes


@pytest.fixture
def sched(tmp_path) -> Scheduled:
    """Flow shop with an hourly schedule, tenants acme and globex linked; SQLite."""
    return open_scheduled(tmp_path / "ws", None, HOURLY)


def tick_rows(s: Scheduled) -> list[tuple[str, str, int, str]]:
    t = schedule_ticks
    with s.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.schedule, t.c.tenant, t.c.tick, t.c.note)).all()
    return sorted((r[0], r[1], int(r[2]), r[3]) for r in rows)


def metric(name: str, **labels: str) -> float:
    """A counter of glue serve's /metrics registry (0 before its first increment)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def queued(s: Scheduled, tenant: str | None = None) -> list[records.Job]:
    return records.list_jobs(s.store, tenant=tenant, status="queued")


def fired_keys(fired: list[Fired]) -> list[tuple[str, str, int]]:
    return sorted((f.schedule, f.tenant, f.tick) for f in fired)


def test_two_servers_on_one_store_fire_each_tick_once(tmp_path, any_url):
    s = open_scheduled(tmp_path / "ws", any_url, HOURLY)
    servers = [Scheduler(s.context()), Scheduler(s.context())]
    fired: list[Fired] = []
    for hour in range(3):
        at = T0 + hour * HOUR + PAST_JITTER
        barrier = threading.Barrier(2)

        def one_round(
            server: Scheduler, at: float = at, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            fired.extend(server.tick(now=at))

        threads = [threading.Thread(target=one_round, args=(srv,)) for srv in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ticks = [int(T0 + h * HOUR) for h in range(3)]
    expected = sorted(("shop/hourly", t, tick) for t in ("acme", "globex") for tick in ticks)
    assert fired_keys(fired) == expected  # each (tenant, tick) once, by one server or the other
    assert [r[:3] for r in tick_rows(s)] == expected
    # the first tick queued a job per tenant; later ticks folded into it while it waited
    for tenant in ("acme", "globex"):
        (job,) = queued(s, tenant)
        assert (job.started_by, job.started_ref, job.connector) == (
            "schedule",
            "shop/hourly",
            "files",
        )
        assert job.folded == 2
    assert all(srv.tick(now=T0 + 2 * HOUR + PAST_JITTER) == [] for srv in servers)


def test_a_tick_claimed_by_one_server_is_refused_to_another(tmp_path, any_url):
    s = open_scheduled(tmp_path / "ws", any_url, HOURLY)
    (entry, _) = plan(s.store, [find_schedule(s.opened.workspace, "shop", "hourly")])
    assert claim(s.store, entry, int(T0), T0, "server-a") is True
    assert claim(s.store, entry, int(T0), T0, "server-b") is False
    assert claim(s.store, entry, int(T0 + HOUR), T0, "server-b") is True
    # in one batch, a row another server holds is skipped and the others still land
    (_, other) = plan(s.store, [find_schedule(s.opened.workspace, "shop", "hourly")])
    batch = [
        (entry, int(T0 + 2 * HOUR)),
        (other, int(T0)),
        (entry, int(T0)),
        (other, int(T0 + HOUR)),
    ]
    won = claim_all(s.store, batch, T0, "server-c")
    assert [(e.tenant, t) for e, t in won] == [
        ("acme", int(T0 + 2 * HOUR)),
        ("globex", int(T0)),
        ("globex", int(T0 + HOUR)),
    ]
    assert len(tick_rows(s)) == 5


def test_a_missed_run_fires_once_on_start_for_the_latest_tick(sched):
    assert fired_keys(Scheduler(sched.context()).tick(now=T0 + PAST_JITTER)) == [
        ("shop/hourly", "acme", int(T0)),
        ("shop/hourly", "globex", int(T0)),
    ]
    # the server is down for five hours; a new one starts
    restarted = Scheduler(sched.context())
    fired = restarted.tick(now=T0 + 5 * HOUR + PAST_JITTER)
    assert fired_keys(fired) == [
        ("shop/hourly", "acme", int(T0 + 5 * HOUR)),
        ("shop/hourly", "globex", int(T0 + 5 * HOUR)),
    ]
    assert Counter(r[1] for r in tick_rows(sched)) == {"acme": 2, "globex": 2}  # no backfill
    assert restarted.tick(now=T0 + 5 * HOUR + 2 * PAST_JITTER) == []


def test_each_tenant_fires_at_its_own_jittered_moment(sched):
    schedule = find_schedule(sched.opened.workspace, "shop", "hourly")
    offsets = {t: schedule.offset_s(t) for t in ("acme", "globex")}
    assert offsets["acme"] != offsets["globex"]
    first, second = sorted(offsets, key=offsets.__getitem__)
    scheduler = Scheduler(sched.context())
    assert len(scheduler.tick(now=T0 - 1)) == 2  # the hour before: both, long due
    assert scheduler.tick(now=T0 + offsets[first] - 1) == []
    assert [f.tenant for f in scheduler.tick(now=T0 + offsets[first])] == [first]
    assert scheduler.tick(now=T0 + offsets[second] - 1) == []
    (late,) = scheduler.tick(now=T0 + offsets[second])
    assert (late.tenant, late.tick, late.due_at) == (second, int(T0), T0 + offsets[second])


def test_the_default_schedule_applies_to_existing_tenants_and_to_one_linked_later(sched):
    scheduler = Scheduler(sched.context())
    assert {f.tenant for f in scheduler.tick(now=T0 + PAST_JITTER)} == {"acme", "globex"}
    sched.store.add_tenant("initech")
    sched.ws.link("shop", "initech", "files")
    sched.linked_at("initech", T0 + 1000)
    # the tick before the link is not a missed run for the new tenant
    assert scheduler.tick(now=T0 + 2000) == []
    fired = scheduler.tick(now=T0 + HOUR + PAST_JITTER)
    assert {f.tenant for f in fired} == {"acme", "globex", "initech"}
    (job,) = queued(sched, "initech")
    assert job.started_ref == "shop/hourly"


def test_a_tenant_override_changes_the_timing_and_disable_stops_it(sched):
    schedule = find_schedule(sched.opened.workspace, "shop", "hourly")
    set_override(sched.store, schedule, "acme", cron="*/30 * * * *", now=T0 - HOUR)
    set_override(sched.store, schedule, "globex", enabled=False, now=T0 - HOUR)
    scheduler = Scheduler(sched.context())
    half = T0 + 1800 + PAST_JITTER
    assert fired_keys(scheduler.tick(now=half)) == [("shop/hourly", "acme", int(T0 + 1800))]
    assert fired_keys(scheduler.tick(now=T0 + HOUR + PAST_JITTER)) == [
        ("shop/hourly", "acme", int(T0 + HOUR))
    ]
    assert queued(sched, "globex") == []
    # clearing globex's override: glue.yml's schedule again, from the next tick on
    set_override(sched.store, schedule, "globex", clear=True, now=T0 + HOUR + 400)
    assert scheduler.tick(now=T0 + HOUR + 500) == []
    fired = scheduler.tick(now=T0 + 2 * HOUR + PAST_JITTER)
    assert ("shop/hourly", "globex", int(T0 + 2 * HOUR)) in fired_keys(fired)


def test_pausing_the_whole_schedule_stops_every_tenant_until_resumed(sched):
    schedule = find_schedule(sched.opened.workspace, "shop", "hourly")
    set_override(sched.store, schedule, ALL_TENANTS, enabled=False, now=T0 - HOUR)
    scheduler = Scheduler(sched.context())
    assert scheduler.tick(now=T0 + 3 * HOUR + PAST_JITTER) == []
    set_override(sched.store, schedule, ALL_TENANTS, enabled=True, now=T0 + 3 * HOUR + 400)
    assert scheduler.tick(now=T0 + 3 * HOUR + 500) == []  # missed while paused: not fired
    assert len(scheduler.tick(now=T0 + 4 * HOUR + PAST_JITTER)) == 2


def test_a_paused_link_and_a_listed_tenant_without_a_link_are_skipped_and_recorded(tmp_path):
    s = open_scheduled(
        tmp_path / "ws",
        None,
        '\n      some:\n        cron: "0 * * * *"\n        tenants: [acme, globex, nobody]\n',
    )
    with s.store.write() as conn:
        conn.execute(
            sa.update(links)
            .where(links.c.tenant == "globex")
            .values(paused_at=T0, paused_reason="by hand")
        )
    skipped_before = metric("glue_schedule_ticks_total", outcome="skipped")
    fired_before = metric("glue_schedule_ticks_total", outcome="fired")
    started_before = metric("glue_jobs_started_total", started_by="schedule")
    fired = {f.tenant: f for f in Scheduler(s.context()).tick(now=T0 + PAST_JITTER)}
    assert set(fired) == {"acme", "globex", "nobody"}
    assert len(fired["acme"].jobs) == 1 and fired["acme"].skipped == []
    assert fired["globex"].jobs == [] and "paused" in fired["globex"].skipped[0]
    assert fired["nobody"].jobs == [] and "no linked source" in fired["nobody"].skipped[0]
    assert [j.tenant for j in queued(s)] == ["acme"]
    notes = {r[1]: r[3] for r in tick_rows(s)}
    assert "paused" in notes["globex"] and notes["acme"] == ""
    assert metric("glue_schedule_ticks_total", outcome="skipped") == skipped_before + 2
    assert metric("glue_schedule_ticks_total", outcome="fired") == fired_before + 1
    assert metric("glue_jobs_started_total", started_by="schedule") == started_before + 1


def test_a_tick_whose_jobs_cannot_be_queued_is_left_for_a_later_round(sched):
    """The store fails under the scheduler (here: the jobs table is away): the tick's claim is
    taken back, and the next round, the store whole again, fires it."""
    with sched.store.write() as conn:
        conn.exec_driver_sql("ALTER TABLE jobs RENAME TO jobs_away")
    scheduler = Scheduler(sched.context())
    assert scheduler.tick(now=T0 + PAST_JITTER) == []
    assert tick_rows(sched) == []
    with sched.store.write() as conn:
        conn.exec_driver_sql("ALTER TABLE jobs_away RENAME TO jobs")
    assert len(scheduler.tick(now=T0 + PAST_JITTER + 10)) == 2
    assert len(queued(sched)) == 2


def test_a_schedule_passes_its_connector_sync_type_and_streams_to_the_job(tmp_path):
    s = open_scheduled(
        tmp_path / "ws",
        None,
        "\n      full:\n        every: 1h\n        connector: files\n        sync_type: full\n"
        "        streams: [orders]\n        tenants: [acme]\n",
    )
    s.ws.link("shop", "acme", "other")  # a second source, which this schedule leaves out
    (fired,) = Scheduler(s.context()).tick(now=T0 + PAST_JITTER)
    (job,) = queued(s, "acme")
    assert fired.jobs == [job.id]
    assert (job.connector, job.sync_type, job.streams) == ("files", "full", ["orders"])


def test_each_linked_source_of_the_tenant_gets_a_job(sched):
    sched.ws.link("shop", "acme", "other")
    Scheduler(sched.context()).tick(now=T0 + PAST_JITTER)
    assert sorted(j.connector for j in queued(sched, "acme")) == ["files", "other"]


def test_tick_rows_older_than_a_week_are_purged_but_the_latest_of_each_is_kept(sched):
    scheduler = Scheduler(sched.context())
    scheduler.tick(now=T0 + PAST_JITTER)
    scheduler.tick(now=T0 + HOUR + PAST_JITTER)
    removed = purge(sched.store, T0 + HOUR + KEEP_TICKS_S + 1)
    assert removed == 2
    assert [r[2] for r in tick_rows(sched)] == [int(T0 + HOUR)] * 2
    assert purge(sched.store, T0 + 100 * KEEP_TICKS_S) == 0


@pytest.mark.slow
def test_a_round_that_queues_jobs_wakes_the_executor(sched):
    """The executor polls once an hour here: only the scheduler's nudge makes it start the
    job within the test's wait."""
    sched.clock.now = T0 + PAST_JITTER
    ctx = sched.context()
    executor = EmbeddedExecutor(ctx, settings=JobSettings(poll_interval_s=3600.0))
    ctx.extra["executor"] = executor
    executor.start()
    try:
        wait_until(lambda: executor.rounds >= 1, "the executor's first round")
        fired = Scheduler(ctx).tick()
        job_ids = [j for f in fired for j in f.jobs]
        assert len(job_ids) == 2
        wait_until(
            lambda: all(records.get(sched.store, j).status != "queued" for j in job_ids),
            "the executor, woken by the scheduler, to start the scheduled jobs",
        )
    finally:
        executor.stop(60.0)


def test_the_loop_fires_in_its_thread_and_stops(sched):
    sched.clock.now = T0 + PAST_JITTER
    scheduler = Scheduler(sched.context(), poll_s=0.05)
    scheduler.start()
    try:
        wait_until(lambda: len(queued(sched)) == 2, "the scheduler's thread to queue two jobs")
    finally:
        scheduler.stop(5.0)
    assert scheduler._thread is None


def test_removing_a_tenant_removes_their_overrides_and_tick_records(sched):
    schedule = find_schedule(sched.opened.workspace, "shop", "hourly")
    set_override(sched.store, schedule, "acme", every="2h", now=T0 - HOUR)
    set_override(sched.store, schedule, ALL_TENANTS, enabled=True, now=T0 - HOUR)
    Scheduler(sched.context()).tick(now=T0 + PAST_JITTER)
    removed = sched.store.remove_tenant("acme")
    assert removed["schedule_overrides"] == 1 and removed["schedule_ticks"] == 1
    assert {r[1] for r in tick_rows(sched)} == {"globex"}
    assert set(overrides(sched.store)) == {("shop", "hourly", ALL_TENANTS)}
