"""Link health and its events: pause and resume (CLI), auto-pause after N failed jobs in a row,
link.needs_reauth when a refresh is refused, and a full resync that keeps the link."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from workspace.conftest_oauth import (
    FLOW,
    SOURCE,
    approve,
    opened,
    provider,
    quick,
    redirect_uri,
    ws_root,
)

from glue_runtime.errors import NeedsReauthorisation
from glue_runtime.jobs.linkhealth import after_job
from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.records import LinkPaused, enqueue
from glue_runtime.service.delivery import Deliverer
from glue_runtime.testing.oauth_provider import OAuthProvider
from glue_runtime.workspace.linkpause import link_health, pause_link, resume_link
from glue_runtime.workspace.oauth import finish_link, start_link
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.outbox import outbox
from glue_runtime.workspace.tokens import fresh_credentials
from service.conftest_events import EventsWorkspace, events_ws, receivers

FIXTURES = (events_ws, receivers, opened, provider, redirect_uri, ws_root)


def _events(store: Any, type_: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.data, outbox.c.tenant)
            .where(outbox.c.type == type_)
            .order_by(outbox.c.created_at)
        ).all()
    return [{**json.loads(r.data), "_tenant": r.tenant} for r in rows]


def _queued(ew: EventsWorkspace) -> Job:
    return enqueue(ew.opened.store, JobRequest("shop", "acme", "files", "api"))[0]


def _end(
    ew: EventsWorkspace, job: Job, succeeded: bool, pause_after: int | None, job_id: str = "j"
) -> bool:
    with ew.opened.store.write() as conn:
        return after_job(conn, replace(job, id=job_id), succeeded, pause_after=pause_after)


def test_pause_and_resume_from_the_cli(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    r = ew.ws.glue("links", "pause", "shop", "files", "--tenant", "acme", "--reason", "billing")
    assert r.code == 0, r.stderr
    assert "paused shop/files of tenant 'acme' (billing)" in r.stdout
    assert link_health(ew.opened.store, "shop", "acme", "files").paused
    with pytest.raises(LinkPaused):
        enqueue(ew.opened.store, JobRequest("shop", "acme", "files", "api"))
    enqueue(ew.opened.store, JobRequest("shop", "globex", "files", "api"))  # another tenant runs
    listed = ew.ws.glue("links", "list").stdout.splitlines()
    assert [line.split()[5] for line in listed if " acme " in line] == ["paused"]
    assert [line.split()[5] for line in listed if " globex " in line] == ["ok"]
    assert (
        "paused_reason: billing"
        in ew.ws.glue("links", "show", "shop", "files", "--tenant", "acme").stdout
    )
    (event,) = _events(ew.opened.store, "link.paused")
    assert event["_tenant"] == "acme" and event["tenant"] == "acme"
    assert event["paused_reason"] == "billing" and event["connector"] == "files"
    # pausing a paused link changes nothing and sends no second event
    assert ew.ws.glue("links", "pause", "shop", "files", "--tenant", "acme").code == 0
    assert len(_events(ew.opened.store, "link.paused")) == 1
    assert link_health(ew.opened.store, "shop", "acme", "files").paused_reason == "billing"

    r = ew.ws.glue("links", "resume", "shop", "files", "--tenant", "acme")
    assert r.code == 0, r.stderr
    job, is_new = enqueue(ew.opened.store, JobRequest("shop", "acme", "files", "api"))
    assert is_new and job.status == "queued"


def test_pausing_an_unknown_link_is_a_named_error_and_changes_nothing(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    r = ew.ws.glue("links", "pause", "shop", "nope", "--tenant", "acme")
    assert r.code != 0 and "unknown link 'shop/nope'" in r.stderr
    r = ew.ws.glue("links", "resume", "shop", "files", "--tenant", "nobody")
    assert r.code != 0 and "nobody" in r.stderr
    assert _events(ew.opened.store, "link.paused") == []


def test_a_link_failing_n_jobs_in_a_row_is_paused_once_with_an_event(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    job = _queued(ew)
    assert not _end(ew, job, False, 3)
    assert not _end(ew, job, False, 3)
    assert not _end(ew, job, True, 3)  # a success clears the count
    assert link_health(ew.opened.store, "shop", "acme", "files").failures == 0
    assert not _end(ew, job, False, 3)
    assert not _end(ew, job, False, 3)
    assert _end(ew, job, False, 3, job_id="the-third")
    health = link_health(ew.opened.store, "shop", "acme", "files")
    assert health.paused and health.failures == 3
    assert "3 jobs in a row failed" in (health.paused_reason or "")
    assert not _end(ew, job, False, 3)  # already paused: no second event
    (event,) = _events(ew.opened.store, "link.paused")
    assert event["job_id"] == "the-third" and event["failures"] == 3
    with pytest.raises(LinkPaused):
        enqueue(ew.opened.store, JobRequest("shop", "acme", "files", "schedule"))
    # the event reaches the endpoints that take it (acme's link.paused: both)
    Deliverer(ew.ctx()).deliver_due()
    (got,) = ew.backend.wait_for(1)
    assert json.loads(got.body)["type"] == "link.paused"
    # resuming clears the count: the next failure does not pause it again at once
    resume_link(ew.opened.store, "shop", "acme", "files")
    assert link_health(ew.opened.store, "shop", "acme", "files").failures == 0
    assert not _end(ew, job, False, 3)


def test_no_auto_pause_when_turned_off(events_ws: EventsWorkspace) -> None:
    job = _queued(events_ws)
    for _ in range(12):
        assert not _end(events_ws, job, False, None)
    assert not link_health(events_ws.opened.store, "shop", "acme", "files").paused


def test_a_full_resync_keeps_the_link(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    before = ew.opened.store.link("shop", "acme", "files")
    assert ew.ws.glue("run", "shop", "--tenant", "acme").code == 0
    r = ew.ws.glue("run", "shop", "--tenant", "acme", "--full-refresh")
    assert r.code == 0, r.stderr
    after = ew.opened.store.link("shop", "acme", "files")
    assert (after.id, after.settings, after.credential_version, after.status) == (
        before.id,
        before.settings,
        before.credential_version,
        before.status,
    )
    assert after.paused_at is None


def test_a_refused_refresh_emits_link_needs_reauth_once(
    opened: Opened, provider: OAuthProvider
) -> None:
    back = approve(start_link(opened, FLOW, "acme", SOURCE).url)
    link = finish_link(opened, back["state"], code=back["code"])
    _, tokens = opened.store.credentials(link)
    provider.fail_next("invalid_grant")
    later = lambda: time.time() + 7200  # noqa: E731 - past the provider's 1 h tokens
    for _ in range(3):
        with pytest.raises(NeedsReauthorisation):
            fresh_credentials(opened, link, now=later, policy=quick())
    (event,) = _events(opened.store, "link.needs_reauth")
    assert (event["flow"], event["tenant"], event["connector"]) == (FLOW, "acme", SOURCE)
    assert "invalid_grant" in event["reason"] and event["_tenant"] == "acme"
    text = json.dumps(event)
    assert tokens["refresh_token"] not in text and tokens["access_token"] not in text
    # relinking makes it ok; a second refusal is a second event
    back = approve(start_link(opened, FLOW, "acme", SOURCE).url)
    link = finish_link(opened, back["state"], code=back["code"])
    provider.fail_next("invalid_grant")
    with pytest.raises(NeedsReauthorisation):
        fresh_credentials(opened, link, now=later, policy=quick())
    assert len(_events(opened.store, "link.needs_reauth")) == 2


def test_pause_link_from_python_keeps_the_first_reason(events_ws: EventsWorkspace) -> None:
    store = events_ws.opened.store
    first = pause_link(store, "shop", "globex", "files", "first")
    again = pause_link(store, "shop", "globex", "files", "second")
    assert first.paused_at == again.paused_at and again.paused_reason == "first"
