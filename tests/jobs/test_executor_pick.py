"""Picking queued jobs: reservations in the store make the per-tenant and per-connector caps
hold across executors before their children claim; SQLite and PostgreSQL."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_exec)
from __future__ import annotations

import socket
import subprocess
import sys
import threading

import sqlalchemy as sa
from workspace.conftest import store_url

from glue_runtime.jobs import pick, recovery
from glue_runtime.jobs.settings import parse_job_settings
from glue_runtime.jobs.tables import jobs
from jobs.conftest_exec import rbench

CAPPED = parse_job_settings({"per_connector": {"files": 1}, "stale_after": "60s"})


def _reserved(bench) -> dict[str, str]:
    with bench.ws.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.worker).where(
                jobs.c.status == "queued", jobs.c.worker.is_not(None)
            )
        ).all()
    return {r.id: r.worker for r in rows}


def test_a_reservation_counts_against_the_cap_before_the_child_claims(rbench):
    acme = rbench.queue("acme").id
    globex = rbench.queue("globex").id
    now = rbench.clock()
    assert [j.id for j in pick.pick(rbench.ws.store, CAPPED, now=now, free=4, me="a:1")] == [acme]
    assert _reserved(rbench) == {acme: "a:1"}
    assert pick.pick(rbench.ws.store, CAPPED, now=now, free=4, me="b:2") == []  # at its cap
    assert globex not in _reserved(rbench)


def test_a_reservation_older_than_stale_after_is_void(rbench):
    acme = rbench.queue("acme").id
    now = rbench.clock()
    pick.pick(rbench.ws.store, CAPPED, now=now, free=1, me="a:1")
    assert pick.pick(rbench.ws.store, CAPPED, now=now + 59, free=1, me="b:2") == []
    again = pick.pick(rbench.ws.store, CAPPED, now=now + 61, free=1, me="b:2")
    assert [j.id for j in again] == [acme]
    assert _reserved(rbench) == {acme: "b:2"}


def test_release_drops_only_this_executors_reservations(rbench):
    acme = rbench.queue("acme").id
    globex = rbench.queue("globex").id
    store, now = rbench.ws.store, rbench.clock()
    pick.pick(store, parse_job_settings({}), now=now, free=1, me="a:1")
    pick.pick(store, parse_job_settings({}), now=now, free=1, me="b:2")
    assert _reserved(rbench) == {acme: "a:1", globex: "b:2"}
    assert pick.release(store, me="a:1") == 1
    assert _reserved(rbench) == {globex: "b:2"}


def test_at_start_reservations_of_a_dead_executor_of_this_host_are_freed(rbench):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    acme = rbench.queue("acme").id
    me = f"{socket.gethostname()}:{dead.pid}"
    pick.pick(rbench.ws.store, CAPPED, now=rbench.clock(), free=1, me=me)
    assert _reserved(rbench) == {acme: me}
    recovery.recover(rbench.ws.store, CAPPED, rbench.clock(), at_start=True)
    assert _reserved(rbench) == {}


def test_executors_picking_at_once_never_exceed_a_cap(rbench):
    for tenant in ("acme", "globex"):
        rbench.queue(tenant, "files")
        rbench.queue(tenant, "other")
    barrier = threading.Barrier(4)
    picked: list[str] = []
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            barrier.wait()
            got = pick.pick(rbench.ws.store, CAPPED, now=rbench.clock(), free=4, me=f"x:{n}")
            picked.extend(f"{j.tenant}/{j.connector}" for j in got)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(p for p in picked if p.endswith("/files")) in (["acme/files"], ["globex/files"])
    assert sorted(p for p in picked if p.endswith("/other")) == ["acme/other", "globex/other"]
