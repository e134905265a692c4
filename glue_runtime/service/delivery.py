"""The deliverer: sends the outbox's events to glue.yml's webhooks, signed, with retries.

Each round (:meth:`Deliverer.deliver_due`):

1. fans new outbox events out: one ``event_deliveries`` row per endpoint that wants the event,
   with an ``event_fanouts`` row whose primary key makes two servers fan an event out once;
2. claims due deliveries with an update-where (``claim``/``claimed_until``), so two servers
   never send the same attempt at once; a server that dies mid-send loses its claim when it
   expires and another one retries;
3. sends each claimed delivery in the endpoint's own small thread pool (a slow or dead
   endpoint holds at most ``per_endpoint`` threads, never another endpoint's nor a job), and
   records the attempt: delivered on a 2xx answer, else the next attempt on the retry schedule,
   ``dead`` after the last.

No transaction is held across an HTTP call. Delivery is at least once: receivers dedupe on the
event id (``Glue-Event-Id``), which every attempt and replay of an event carries.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa

from glue_runtime.jobs.settings import job_settings
from glue_runtime.service import metrics, signing
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.eventlog import new_delivery_id, payload, purge_events
from glue_runtime.service.events_tables import event_attempts, event_deliveries, event_fanouts
from glue_runtime.service.webhooks import Endpoint, endpoints, signing_secrets
from glue_runtime.workspace.outbox import outbox
from glue_runtime.workspace.store import Store

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
"""Waits before each retry: 30 s, 2 m, 10 m, 30 m, 1 h, 3 h, 6 h, 12 h (about 23 h in all)."""
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1  # the first attempt, then one per delay; then dead
JITTER = 0.1  # each wait is its delay +- 10 %, so endpoints that failed together spread out
PER_ENDPOINT = 4  # concurrent sends to one endpoint
POLL_S = 1.0
PURGE_EVERY_S = 3600.0
FANOUT_BATCH = 500
CLAIM_MARGIN_S = 30.0
SIGNATURE_HEADER = signing.HEADER
EVENT_ID_HEADER = "Glue-Event-Id"


def retry_delay(attempts: int, rand: Callable[[], float] = random.random) -> float | None:
    """Seconds to wait after ``attempts`` failed attempts; None when that was the last."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS_S[attempts - 1] * (1 + JITTER * (2 * rand() - 1))


def _fan_out_rows(
    conn: sa.Connection, rows: list[Any], eps: dict[str, Endpoint], now: float
) -> int:
    made = 0
    for r in rows:
        conn.execute(sa.insert(event_fanouts).values(event_id=r.id, at=now))
        for ep in eps.values():
            if ep.wants(r.type, r.tenant):
                conn.execute(
                    sa.insert(event_deliveries).values(
                        id=new_delivery_id(),
                        event_id=r.id,
                        endpoint=ep.name,
                        tenant=r.tenant,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                made += 1
    return made


def fan_out(store: Store, eps: dict[str, Endpoint], now: float) -> int:
    """Make the deliveries of outbox events not fanned out yet; how many were made. One
    transaction for the batch; when another server fanned one of them out first, one per
    event (that one is skipped)."""
    done = event_fanouts.c.event_id
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.id, outbox.c.type, outbox.c.tenant)
            .select_from(outbox.outerjoin(event_fanouts, done == outbox.c.id))
            .where(done.is_(None))
            .order_by(outbox.c.created_at)
            .limit(FANOUT_BATCH)
        ).all()
    if not rows:
        return 0
    try:
        with store.write() as conn:
            return _fan_out_rows(conn, list(rows), eps, now)
    except sa.exc.IntegrityError:
        pass
    made = 0
    for r in rows:
        try:
            with store.write() as conn:
                made += _fan_out_rows(conn, [r], eps, now)
        except sa.exc.IntegrityError:
            continue  # another server fanned this event out first
    return made


def claim(store: Store, ep: Endpoint, now: float, limit: int) -> list[Any]:
    """Take up to ``limit`` due deliveries of ``ep`` for this server (update-where: a delivery
    another server holds, or took first, is not taken)."""
    if limit <= 0:
        return []
    d = event_deliveries.c
    due = (
        (d.endpoint == ep.name)
        & d.status.in_(("pending", "failed"))
        & (d.next_attempt_at <= now)
        & (d.claimed_until.is_(None) | (d.claimed_until < now))
    )
    token = secrets.token_hex(8)
    with store.write() as conn:
        ids = (
            conn.execute(sa.select(d.id).where(due).order_by(d.next_attempt_at).limit(limit))
            .scalars()
            .all()
        )
        if not ids:
            return []
        conn.execute(
            sa.update(event_deliveries)
            .where(due & d.id.in_(ids))
            .values(claim=token, claimed_until=now + ep.timeout_s + CLAIM_MARGIN_S)
        )
        return list(conn.execute(sa.select(event_deliveries).where(d.claim == token)).all())


@dataclass(frozen=True)
class Outcome:
    code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.error is None


def post(
    ep: Endpoint, keys: list[str], event_id: str, event_type: str, body: bytes, now: float
) -> Outcome:
    """One signed POST of ``body`` to ``ep``; its outcome (errors name no URL nor secret)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "glue_runtime-webhooks",
        SIGNATURE_HEADER: signing.sign(keys, body, int(now)),
        EVENT_ID_HEADER: event_id,
        "Glue-Event-Type": event_type,
    }
    started = time.monotonic()
    code: int | None = None
    try:
        answer = requests.post(
            ep.url, data=body, headers=headers, timeout=ep.timeout_s, allow_redirects=False
        )
        code = answer.status_code
        answer.close()
        error = None if 200 <= code < 300 else f"the endpoint answered HTTP {code}"
    except requests.Timeout:
        error = f"no answer within {ep.timeout_s:g} s"
    except requests.ConnectionError:
        error = "could not connect to the endpoint"
    except requests.RequestException as exc:
        error = f"the request failed ({type(exc).__name__})"
    return Outcome(code, error, (time.monotonic() - started) * 1000)


def record(store: Store, delivery: Any, outcome: Outcome, now: float) -> str:
    """Write the attempt and the delivery's next step; its new status."""
    attempt = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempt,
        "claim": None,
        "claimed_until": None,
        "last_code": outcome.code,
        "last_error": outcome.error,
        "updated_at": now,
    }
    if outcome.ok:
        values.update(status="delivered", next_attempt_at=None, delivered_at=now)
    elif (delay := retry_delay(attempt)) is None:
        values.update(status="dead", next_attempt_at=None)
    else:
        values.update(status="failed", next_attempt_at=now + delay)
    with store.write() as conn:
        conn.execute(
            sa.insert(event_attempts).values(
                delivery_id=delivery.id,
                attempt=attempt,
                at=now,
                code=outcome.code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        conn.execute(
            sa.update(event_deliveries)
            .where(event_deliveries.c.id == delivery.id, event_deliveries.c.claim == delivery.claim)
            .values(**values)
        )
    metrics.EVENTS_DELIVERED.labels("ok" if outcome.ok else "failed").inc()
    return str(values["status"])


class Deliverer:
    """The background part of `glue serve` that delivers events (start/stop), and one
    synchronous round for tests and tools (:meth:`deliver_due`)."""

    def __init__(
        self, ctx: ServiceContext, *, poll_s: float = POLL_S, per_endpoint: int = PER_ENDPOINT
    ) -> None:
        self.ctx = ctx
        self.store = ctx.opened.store
        self.endpoints = endpoints(ctx.opened.workspace)
        self.poll_s = poll_s
        self.per_endpoint = per_endpoint
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._in_flight: dict[str, int] = {}
        self._futures: set[Future[str]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()  # a send ended: an endpoint has room for the next one
        self._thread: threading.Thread | None = None
        self._purged_at = 0.0
        # events are kept as long as job records (glue.yml jobs.retention)
        self.retention_s = job_settings(ctx.opened.workspace).retention_s

    # -- one round ------------------------------------------------------------------------

    def deliver_due(self, now: float | None = None, *, wait: bool = True) -> int:
        """Fan out new events, then send every due delivery an endpoint has room for; the
        number of attempts started. ``wait``: return when they are recorded."""
        at = self.ctx.now() if now is None else now
        fan_out(self.store, self.endpoints, at)
        started: list[Future[str]] = []
        for ep in self.endpoints.values():
            with self._lock:
                room = self.per_endpoint - self._in_flight.get(ep.name, 0)
            for delivery in claim(self.store, ep, at, room):
                started.append(self._submit(ep, delivery, at))
        if wait:
            wait_all(started)
        return len(started)

    def _submit(self, ep: Endpoint, delivery: Any, now: float) -> Future[str]:
        with self._lock:
            self._in_flight[ep.name] = self._in_flight.get(ep.name, 0) + 1
            pool = self._pools.get(ep.name)
            if pool is None:
                pool = ThreadPoolExecutor(self.per_endpoint, thread_name_prefix=f"events-{ep.name}")
                self._pools[ep.name] = pool
            future = pool.submit(self._attempt, ep, delivery, now)
            self._futures.add(future)
        future.add_done_callback(lambda f: self._done(ep.name, f))
        return future

    def _done(self, name: str, future: Future[str]) -> None:
        with self._lock:
            self._in_flight[name] -= 1
            self._futures.discard(future)
        self._wake.set()

    def _attempt(self, ep: Endpoint, delivery: Any, now: float) -> str:
        try:
            with self.store.engine.connect() as conn:
                event = conn.execute(
                    sa.select(outbox).where(outbox.c.id == delivery.event_id)
                ).first()
            if event is None:  # removed with its tenant since it was claimed: nothing to send
                return "gone"
            keys = signing_secrets(self.store, ep, now)
            if not keys:
                outcome = Outcome(
                    None,
                    f"endpoint '{ep.name}' has no signing secret: set webhooks.{ep.name}.secret "
                    f"in glue.yml or run `glue events secret new {ep.name}`",
                    0.0,
                )
            else:
                outcome = post(ep, keys, event.id, event.type, payload(event), now)
            return record(self.store, delivery, outcome, now)
        except Exception:
            log.exception("delivering event %s to endpoint %s failed", delivery.event_id, ep.name)
            raise

    def purge_due(self, now: float | None = None) -> dict[str, int]:
        """Once an hour: delete the events older than the retention whose deliveries ended."""
        at = self.ctx.now() if now is None else now
        if self.retention_s is None or at - self._purged_at < PURGE_EVERY_S:
            return {}
        self._purged_at = at
        return purge_events(self.store, self.retention_s, now=at)

    # -- background -----------------------------------------------------------------------

    def start(self) -> None:
        """Deliver in a thread of its own until :meth:`stop`; returns at once."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="events-deliverer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        """A round every ``poll_s``, and at once when a send ends (a backlog drains at the
        endpoints' pace, not one round of sends per poll)."""
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.deliver_due(wait=False)
                self.purge_due()
            except Exception:  # the store may be briefly unreachable: try again next round
                log.exception("a round of event deliveries failed")
            self._wake.wait(self.poll_s)

    def stop(self, grace_s: float) -> None:
        """Stop claiming; wait up to ``grace_s`` for sends under way (one not finished by then
        keeps its claim until it expires, and is retried: receivers dedupe on the event id)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            pending = set(self._futures)
            pools = list(self._pools.values())
            self._pools.clear()
        wait_all(pending, timeout=grace_s)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
