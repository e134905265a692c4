"""Outbound events end to end: a real `glue serve` runs jobs and delivers their events to a
real receiver on 127.0.0.1, signed and retried; a job run while an endpoint hangs ends."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from glue_runtime.service import signing
from glue_runtime.service.delivery import Deliverer
from glue_runtime.service.keys import create_key
from glue_runtime.workspace.linkpause import link_health
from glue_runtime.workspace.tables import links
from service.conftest import start_served, stop_served, wait_status
from service.conftest_events import SECRET, EventsWorkspace, Received, events_ws, receivers

FIXTURES = (events_ws, receivers)


def _by_type(got: list[Received]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for g in got:
        body = json.loads(g.body)
        found.setdefault(body["type"], []).append(body)
    return found


@pytest.mark.slow
def test_glue_serve_sends_a_jobs_events_signed_and_retries_a_failed_one(
    events_ws: EventsWorkspace, tmp_path: Path
) -> None:
    ew = events_ws
    ew.backend.codes = [503]  # the first request fails: retried after the first delay
    _, key = create_key(ew.ws.store, "admin")
    served = start_served(ew.ws, tmp_path / "serve.log")
    try:
        api = served.client(key)
        r = api.post("/v1/flows/shop/tenants/acme/jobs", json={"connector": "files"})
        assert r.status_code == 202, r.text
        (job,) = r.json()["jobs"]
        wait_status(api, job["id"], {"succeeded"})
        # job.started and job.succeeded; the first to arrive got the 503 and comes again
        got = ew.backend.wait_for(3)
        for g in got:
            assert signing.verify(SECRET, g.headers["Glue-Signature"], g.body, now=time.time())
        assert (
            got[0].body == got[2].body
            and got[0].headers["Glue-Event-Id"] == got[2].headers["Glue-Event-Id"]
        )
        types = _by_type(got)
        assert sorted(types) == ["job.started", "job.succeeded"]
        (done,) = {json.dumps(b, sort_keys=True): b for b in types["job.succeeded"]}.values()
        assert done["data"]["job_id"] == job["id"] and done["tenant"] == "acme"
        assert done["data"]["counts"]
        # pausing the link through the API sends link.paused to both endpoints that take it
        r = api.post("/v1/flows/shop/tenants/acme/links/files/pause", json={"reason": "e2e"})
        assert r.status_code == 200, r.text
        paused = ew.backend.wait_for(4)[3]
        assert json.loads(paused.body)["data"]["paused_reason"] == "e2e"
        assert stop_served(served) == 0
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(10)


def test_a_job_run_while_the_endpoint_hangs_ends_and_its_events_follow(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    ew.backend.hang = True
    deliverer = Deliverer(ew.ctx(), poll_s=0.05)
    deliverer.start()
    try:
        with ew.opened.store.write() as conn:
            from glue_runtime.workspace.outbox import emit

            emit(conn, "link.needs_reauth", {"flow": "shop"}, tenant="globex")
        assert ew.backend.hanging.wait(30)
        r = ew.ws.glue("run", "shop", "--tenant", "acme")  # a real job, start to end
        assert r.code == 0, r.stderr
        assert ew.backend.got == []  # the endpoint hung all along
    finally:
        ew.backend.release.set()
    try:
        got = ew.backend.wait_for(3)
    finally:
        deliverer.stop(grace_s=10)
    types = _by_type(got)
    assert {"job.started", "job.succeeded", "link.needs_reauth"} <= set(types)


@pytest.mark.slow
def test_a_real_failing_job_that_reaches_the_limit_pauses_its_link_and_sends_link_paused(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    store = ew.ws.store
    with store.write() as conn:  # acme's files link: a folder that is not there, 9 failures
        conn.execute(
            sa.update(links)
            .where(links.c.tenant == "acme")
            .values(settings=json.dumps({"base_dir": str(ew.ws.root / "missing")}), failures=9)
        )
    r = ew.ws.glue("run", "shop", "--tenant", "acme")  # the 10th failed job in a row
    assert r.code != 0
    health = link_health(store, "shop", "acme", "files")
    assert health.paused and health.failures == 10
    assert "10 jobs in a row failed" in (health.paused_reason or "")
    r = ew.ws.glue("run", "shop", "--tenant", "acme")
    assert r.code != 0 and "paused" in r.stderr
    Deliverer(ew.ctx()).deliver_due(time.time())
    types = _by_type(ew.backend.wait_for(3))  # job.started, job.failed, link.paused
    (paused,) = types["link.paused"]
    assert paused["data"]["job_id"] == types["job.failed"][0]["data"]["job_id"]
    assert link_health(store, "shop", "globex", "files").paused is False


def test_a_real_job_end_pauses_at_the_workspaces_own_limit(events_ws: EventsWorkspace) -> None:
    """``jobs.pause_after_failures`` in glue.yml, not the default of 10, decides."""
    ew = events_ws
    config = ew.ws.root / "glue.yml"
    assert "\njobs:" not in config.read_text()
    config.write_text(config.read_text() + "jobs:\n  pause_after_failures: 2\n")
    with ew.ws.store.write() as conn:  # acme's files link: a folder that is not there
        conn.execute(
            sa.update(links)
            .where(links.c.tenant == "acme")
            .values(settings=json.dumps({"base_dir": str(ew.ws.root / "missing")}), failures=1)
        )
    r = ew.ws.glue("run", "shop", "--tenant", "acme")  # the 2nd failed job in a row
    assert r.code != 0
    health = link_health(ew.ws.store, "shop", "acme", "files")
    assert health.paused and health.failures == 2
    assert "2 jobs in a row failed" in (health.paused_reason or "")
