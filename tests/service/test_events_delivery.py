"""Outbound webhooks: events from the outbox reach real receivers on 127.0.0.1, signed, and are
retried on the schedule with a clock the test moves (glue_runtime/service/delivery.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from workspace.secret_sweep import assert_no_secrets

from glue_runtime.jobs.model import JobRequest
from glue_runtime.jobs.records import enqueue
from glue_runtime.service import signing
from glue_runtime.service.delivery import (
    CLAIM_MARGIN_S,
    JITTER,
    MAX_ATTEMPTS,
    RETRY_DELAYS_S,
    Deliverer,
    claim,
    fan_out,
)
from glue_runtime.service.eventlog import UnknownEvent, replay, show_event
from glue_runtime.service.events_tables import event_attempts, event_deliveries, webhook_secrets
from glue_runtime.service.metrics import REGISTRY
from glue_runtime.service.webhooks import endpoints, new_secret, signing_secrets
from glue_runtime.workspace.open import open_workspace
from glue_runtime.workspace.outbox import emit
from service.conftest_events import SECRET, EventsWorkspace, any_events_ws, events_ws, receivers

FIXTURES = (any_events_ws, events_ws, receivers)


def _emit(
    ew: EventsWorkspace, type_: str = "job.succeeded", tenant: str = "acme", **data: Any
) -> str:
    with ew.opened.store.write() as conn:
        return emit(conn, type_, {"tenant": tenant, "job_id": "j1", **data}, tenant=tenant)


def _deliveries(ew: EventsWorkspace, endpoint: str = "backend") -> list[Any]:
    with ew.opened.store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(event_deliveries)
                .where(event_deliveries.c.endpoint == endpoint)
                .order_by(event_deliveries.c.created_at)
            )
        )


def _delivered_metric(outcome: str) -> float:
    value = REGISTRY.get_sample_value("glue_events_delivered_total", {"outcome": outcome})
    return value or 0.0


def test_an_event_arrives_signed_and_verifiable(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    event_id = _emit(ew, "job.succeeded", records=3)
    assert Deliverer(ew.ctx()).deliver_due() == 1  # `other` does not take job.succeeded
    (got,) = ew.backend.wait_for(1)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Glue-Event-Id"] == event_id
    header = got.headers["Glue-Signature"]
    assert signing.verify(SECRET, header, got.body, now=ew.clock[0])
    # by hand, as a receiver without glue_runtime would: HMAC-SHA256 of "{t}.{body}", hex
    parts = dict(p.split("=", 1) for p in header.split(","))
    assert int(parts["t"]) == int(ew.clock[0])
    mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(mac.hexdigest(), parts["v1"])
    assert not signing.verify("another-secret-entirely", header, got.body, now=ew.clock[0])
    assert not signing.verify(SECRET, header, got.body + b" ", now=ew.clock[0])
    assert not signing.verify(SECRET, header, got.body, now=ew.clock[0] + 301)  # a replay
    body = json.loads(got.body)
    assert body["id"] == event_id and body["type"] == "job.succeeded"
    assert body["data"] == {"tenant": "acme", "job_id": "j1", "records": 3}
    assert ew.other.got == []
    (d,) = _deliveries(ew)
    assert (d.status, d.attempts, d.last_code) == ("delivered", 1, 200)


def test_the_signing_helper_matches_the_published_style_vector() -> None:
    # the derived cross-vector of platform-anchors.md section 5 (Stripe style)
    got = signing.sign("It's a Secret to Everybody", b"Hello, World!", 1700000000)
    assert got == (
        "t=1700000000,v1=76c83fd0acdf22faed320674fe8e04d528cfe8a17905e720a9611e40677c03b7"
    )


def test_a_failing_receiver_is_retried_on_the_schedule_until_it_succeeds(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    ew.backend.codes = [500, 500, 503]
    event_id = _emit(ew)
    counted = {o: _delivered_metric(o) for o in ("ok", "failed")}
    deliverer = Deliverer(ew.ctx())
    t0 = ew.clock[0]
    assert deliverer.deliver_due(t0) == 1
    now = t0
    for attempt, delay in enumerate(RETRY_DELAYS_S[:3], start=1):
        (d,) = _deliveries(ew)
        assert d.status == "failed" and d.attempts == attempt
        assert now + delay * (1 - JITTER) <= d.next_attempt_at <= now + delay * (1 + JITTER)
        assert deliverer.deliver_due(now + delay * (1 - JITTER) - 1) == 0  # not due yet
        now = d.next_attempt_at
        assert deliverer.deliver_due(now) == 1
    (d,) = _deliveries(ew)
    assert (d.status, d.attempts, d.next_attempt_at) == ("delivered", 4, None)
    assert deliverer.deliver_due(now + 10 * 86400) == 0  # success stops the retries
    got = ew.backend.wait_for(4)
    assert len(got) == 4
    assert {g.headers["Glue-Event-Id"] for g in got} == {event_id}  # the same id every time
    assert len({g.body for g in got}) == 1  # and the same body
    assert _delivered_metric("failed") - counted["failed"] == 3
    assert _delivered_metric("ok") - counted["ok"] == 1
    with ew.opened.store.engine.connect() as conn:
        codes = conn.execute(
            sa.select(event_attempts.c.code).order_by(event_attempts.c.attempt)
        ).scalars()
        assert list(codes) == [500, 500, 503, 200]


def test_a_delivery_is_dead_after_the_last_attempt(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    ew.backend.codes = [500] * 20
    _emit(ew)
    deliverer = Deliverer(ew.ctx())
    now = ew.clock[0]
    for _ in range(MAX_ATTEMPTS):
        assert deliverer.deliver_due(now) == 1
        (d,) = _deliveries(ew)
        now = d.next_attempt_at if d.next_attempt_at is not None else now
    (d,) = _deliveries(ew)
    assert (d.status, d.attempts, d.next_attempt_at) == ("dead", MAX_ATTEMPTS, None)
    assert now - ew.clock[0] == pytest.approx(sum(RETRY_DELAYS_S), rel=JITTER)
    assert deliverer.deliver_due(now + 30 * 86400) == 0
    assert len(ew.backend.got) == MAX_ATTEMPTS
    assert "HTTP 500" in (d.last_error or "")


def test_replay_sends_the_same_event_id_again(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    event_id = _emit(ew, "job.failed", error="boom")
    new_secret(ew.opened.store, endpoints(ew.opened.workspace)["other"])
    deliverer = Deliverer(ew.ctx())
    deliverer.deliver_due()
    ew.backend.wait_for(1)
    ew.other.wait_for(1)
    eps = endpoints(ew.opened.workspace)
    made = replay(ew.opened.store, event_id, eps, only="backend", now=ew.clock[0] + 1)
    assert [d["endpoint"] for d in made] == ["backend"]
    assert deliverer.deliver_due(ew.clock[0] + 1) == 1
    first, again = ew.backend.wait_for(2)
    assert again.headers["Glue-Event-Id"] == first.headers["Glue-Event-Id"] == event_id
    assert again.body == first.body
    shown = show_event(ew.opened.store, event_id)
    backend = [d for d in shown["deliveries"] if d["endpoint"] == "backend"]
    assert [d["status"] for d in backend] == ["delivered", "delivered"]
    assert backend[1]["replay_of"] == backend[0]["id"]
    assert len(ew.other.got) == 1  # replayed to the endpoint named only


def test_replay_of_an_unknown_event_is_a_named_error(events_ws: EventsWorkspace) -> None:
    r = events_ws.ws.glue("events", "replay", "evt_nope")
    assert r.code != 0 and "no event 'evt_nope'" in r.stderr


def test_endpoints_get_only_their_types_and_tenants(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    new_secret(ew.opened.store, endpoints(ew.opened.workspace)["other"])
    acme = _emit(ew, "job.failed", "acme")
    _emit(ew, "job.failed", "globex")
    _emit(ew, "job.started", "acme")
    Deliverer(ew.ctx()).deliver_due()
    assert len(ew.backend.wait_for(3)) == 3
    assert [g.headers["Glue-Event-Id"] for g in ew.other.got] == [acme]


def test_a_hanging_receiver_blocks_neither_another_endpoint_nor_jobs(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    ew.backend.hang = True  # until released: longer than the test waits for the other one
    new_secret(ew.opened.store, endpoints(ew.opened.workspace)["other"])
    deliverer = Deliverer(ew.ctx(), poll_s=0.05)
    deliverer.start()
    try:
        first = _emit(ew, "job.failed", "acme")
        ew.backend.hanging.wait(10)
        assert ew.backend.hanging.is_set()
        # the other endpoint gets its event while the backend hangs
        (got,) = ew.other.wait_for(1)
        assert got.headers["Glue-Event-Id"] == first
        # a job's writes (queue, the end with its event) go through while it hangs
        job, _ = enqueue(ew.opened.store, JobRequest("shop", "acme", "files", "api"))
        second = _emit(ew, "link.paused", "acme")
        ew.other.wait_for(2)
        assert ew.backend.got == []  # still hanging all along
        assert job.status == "queued" and second
    finally:
        ew.backend.release.set()
        deliverer.stop(grace_s=10)
    got_ids = {g.headers["Glue-Event-Id"] for g in ew.backend.wait_for(2)}
    assert got_ids == {first, second}  # both were in flight at once, then answered


def test_the_outbox_survives_a_restart(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    ids = [_emit(ew, "job.succeeded") for _ in range(3)]
    ew.opened.close()  # the server that wrote them stops before delivering anything
    ew.opened = open_workspace(ew.ws.root)
    Deliverer(ew.ctx()).deliver_due()
    assert sorted(g.headers["Glue-Event-Id"] for g in ew.backend.wait_for(3)) == sorted(ids)


def test_a_claim_of_a_server_that_died_expires_and_is_retried(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    event_id = _emit(ew)
    (backend,) = [ep for ep in endpoints(ew.opened.workspace).values() if ep.name == "backend"]
    now = ew.clock[0]
    fan_out(ew.opened.store, endpoints(ew.opened.workspace), now)
    assert len(claim(ew.opened.store, backend, now, 10)) == 1  # then that server dies
    deliverer = Deliverer(ew.ctx())
    assert deliverer.deliver_due(now + 1) == 0  # its claim holds
    assert deliverer.deliver_due(now + backend.timeout_s + CLAIM_MARGIN_S + 1) == 1
    assert ew.backend.wait_for(1)[0].headers["Glue-Event-Id"] == event_id


def test_an_endpoint_without_a_secret_is_not_sent_unsigned_until_one_is_made(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    _emit(ew, "job.failed", "acme")
    deliverer = Deliverer(ew.ctx())
    deliverer.deliver_due()
    (d,) = _deliveries(ew, "other")
    assert d.status == "failed" and "glue events secret new other" in d.last_error
    assert ew.other.got == []
    r = ew.ws.glue("events", "secret", "new", "other")
    assert r.code == 0, r.stderr
    secret = r.stdout.strip()
    assert secret.startswith("whsec_")
    deliverer.deliver_due(d.next_attempt_at)
    (got,) = ew.other.wait_for(1)
    assert signing.verify(secret, got.headers["Glue-Signature"], got.body, now=d.next_attempt_at)
    with ew.opened.store.engine.connect() as conn:
        stored = conn.execute(sa.select(webhook_secrets.c.secret)).scalar()
    assert secret not in stored  # encrypted at rest
    assert_no_secrets([secret, SECRET], texts=[stored, ew.ws.glue("events", "list").stdout])
    # glue.yml's own secret cannot be replaced unseen
    r = ew.ws.glue("events", "secret", "new", "backend")
    assert r.code != 0 and "takes its secret from glue.yml" in r.stderr


def test_events_list_and_show(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    ew.backend.codes = [500]
    event_id = _emit(ew, "job.failed", "acme")
    Deliverer(ew.ctx()).deliver_due()
    r = ew.ws.glue("events", "list", "--status", "failed", "--endpoint", "backend")
    assert r.code == 0, r.stderr
    assert event_id in r.stdout and "backend=failed(1)" in r.stdout
    assert ew.ws.glue("events", "list", "--status", "dead").stdout.strip() == ""
    r = ew.ws.glue("events", "show", event_id)
    assert r.code == 0, r.stderr
    assert "attempt 1" in r.stdout and "HTTP 500" in r.stdout
    r = ew.ws.glue("events", "list", "--status", "nope")
    assert r.code != 0 and "unknown delivery status 'nope'" in r.stderr


def test_two_servers_send_each_event_once(any_events_ws: EventsWorkspace) -> None:
    ew = any_events_ws
    ids = {_emit(ew, "job.succeeded") for _ in range(20)}
    servers = [Deliverer(ew.ctx()) for _ in range(2)]
    servers[1].store = open_workspace(ew.ws.root).store  # a second process's engine
    barrier = threading.Barrier(2)

    def run(d: Deliverer) -> None:
        barrier.wait()
        for _ in range(8):
            d.deliver_due()

    threads = [threading.Thread(target=run, args=(d,)) for d in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = ew.backend.wait_for(20)
    assert sorted(g.headers["Glue-Event-Id"] for g in got) == sorted(ids)  # each once
    assert len(_deliveries(ew)) == 20
    servers[1].store.close()


def test_a_generated_secret_replaces_the_one_before(events_ws: EventsWorkspace) -> None:
    store, now = events_ws.opened.store, events_ws.clock[0]
    eps = endpoints(events_ws.opened.workspace)
    first = new_secret(store, eps["other"])
    second = new_secret(store, eps["other"])
    assert first != second and signing_secrets(store, eps["other"], now) == [second]


def test_a_rotation_signs_with_both_secrets_while_they_overlap(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    now = time.time()  # the CLI stores the overlap's end in real time
    old = new_secret(ew.opened.store, endpoints(ew.opened.workspace)["other"])
    r = ew.ws.glue("events", "secret", "new", "other", "--keep-old", "1h")
    assert r.code == 0, r.stderr
    new = r.stdout.strip()
    deliverer = Deliverer(ew.ctx())
    _emit(ew, "job.failed", "acme")
    deliverer.deliver_due(now)
    (got,) = ew.other.wait_for(1)
    header = got.headers["Glue-Signature"]
    assert header.count("v1=") == 2
    for secret in (old, new):  # a receiver with either secret accepts it
        assert signing.verify(secret, header, got.body, now=now)
    _emit(ew, "job.failed", "acme")
    later = now + 3600 + 60
    deliverer.deliver_due(later)
    header = ew.other.wait_for(2)[1].headers["Glue-Signature"]
    assert header.count("v1=") == 1
    assert signing.verify(new, header, ew.other.got[1].body, now=later)
    assert not signing.verify(old, header, ew.other.got[1].body, now=later)


def _documented_verify() -> Any:
    """The receiver's check the server docs show (docs/server.md, or its fragment)."""
    docs = Path(__file__).parents[2] / "docs"
    text = "\n".join(
        p.read_text()
        for p in [docs / "server.md", *sorted(docs.glob("server.d/*.md"))]
        if p.exists()
    )
    section = text.split("The signature, and how to check it", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(code, scope)
    return scope["verify"]


def test_the_documented_receiver_check_accepts_a_delivery(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    verify = _documented_verify()
    old = new_secret(ew.opened.store, endpoints(ew.opened.workspace)["other"])
    r = ew.ws.glue("events", "secret", "new", "other", "--keep-old", "1h")
    _emit(ew, "job.failed", "acme")
    Deliverer(ew.ctx()).deliver_due(time.time())
    (got,) = ew.other.wait_for(1)
    header = got.headers["Glue-Signature"]
    assert verify(r.stdout.strip(), header, got.body)
    assert verify(old, header, got.body)  # the second v1= during the overlap
    assert not verify(r.stdout.strip(), header, got.body + b"x")
    assert not verify("whsec_not-the-secret", header, got.body)


def test_old_events_whose_deliveries_ended_are_purged(events_ws: EventsWorkspace) -> None:
    ew = events_ws
    ew.backend.codes = [200, 500]
    done = _emit(ew, "job.succeeded")
    deliverer = Deliverer(ew.ctx())
    deliverer.deliver_due()
    retried = _emit(ew, "job.succeeded")
    deliverer.deliver_due()  # the second one failed: it is retried later
    unsent = _emit(ew, "job.succeeded")  # not fanned out yet
    later = time.time() + 30 * 86400 + 60  # jobs.retention's default
    removed = deliverer.purge_due(later)
    assert removed == {"event_attempts": 1, "event_deliveries": 1, "event_fanouts": 1, "outbox": 1}
    assert deliverer.purge_due(later + 60) == {}  # once an hour
    with pytest.raises(UnknownEvent):
        show_event(ew.opened.store, done)
    assert show_event(ew.opened.store, retried)["deliveries"][0]["status"] == "failed"
    assert show_event(ew.opened.store, unsent)["deliveries"] == []


def test_removing_a_tenant_removes_its_events_deliveries_and_attempts(
    events_ws: EventsWorkspace,
) -> None:
    ew = events_ws
    acme = _emit(ew, "job.failed", "acme")
    globex = _emit(ew, "job.failed", "globex")
    Deliverer(ew.ctx()).deliver_due()
    removed = ew.opened.store.remove_tenant("acme")
    assert removed["outbox"] == 1 and removed["event_attempts"] >= 1
    assert removed["event_deliveries"] == 2  # backend's and other's
    with pytest.raises(UnknownEvent):
        show_event(ew.opened.store, acme)
    with ew.opened.store.engine.connect() as conn:
        kept = conn.execute(sa.select(event_attempts.c.delivery_id)).scalars().all()
    (theirs,) = show_event(ew.opened.store, globex)["deliveries"]
    assert kept == [theirs["id"]]
