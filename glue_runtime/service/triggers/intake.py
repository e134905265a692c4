"""What happens to one webhook after its body is read: find the trigger, check the URL's
tenant token and the signature, read the event, dedupe it, queue (or fold into) its job.

Kept apart from HTTP (hooks.py reads the body and turns an :class:`Answer` into a response)
so the rules read in one place. Order matters: a bad URL is a 404 whatever the body; a bad
signature a 401 before the body is parsed; none of the refusals writes anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.errors import ConfigError
from glue_runtime.jobs import records as jobs
from glue_runtime.jobs.model import JobRequest
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.signing import SignatureError
from glue_runtime.service.triggers import paths
from glue_runtime.service.triggers import records as stored
from glue_runtime.service.triggers.settings import Trigger, triggers
from glue_runtime.service.triggers.tables import trigger_deliveries
from glue_runtime.service.triggers.verify import Delivery, verify
from glue_runtime.workspace.store import Store

DEDUPE_S = 24 * 3600.0
SECRET_CACHE_S = 10.0  # a removed secret may verify this long; a new one verifies at once
PURGE_EVERY_S = 60.0


_RECORD = sa.insert(trigger_deliveries)  # built once: every webhook runs it


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a webhook: status, JSON body and the outcome the metric counts."""

    status: int
    outcome: str
    body: dict[str, Any] = field(default_factory=dict)


NOT_FOUND = Answer(404, "unknown_trigger")  # hooks.py answers it exactly like a bad path


def _ignored(why: str, message: str) -> Answer:
    """The sender cannot fix these (its signature was good): 202, so it does not retry."""
    return Answer(202, f"ignored_{why}", {"ignored": why, "message": message})


class Intake:
    """One server's webhook intake, with what it caches between requests (the triggers of
    glue.yml, the public ids, the secrets for a few seconds)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.store = ctx.opened.store
        self.triggers = {(t.flow, t.name): t for t in triggers(ctx.opened.workspace)}
        self._endpoints = {k: stored.endpoint_id(self.store, t) for k, t in self.triggers.items()}
        self._ids = {endpoint: k for k, endpoint in self._endpoints.items()}
        self._secrets: dict[str, tuple[float, list[str]]] = {}
        self._tokens: dict[tuple[str, str], tuple[float, str]] = {}
        self._purged_at = -1e18

    # -- lookups (cached) ------------------------------------------------------------------

    def trigger(self, endpoint: str) -> Trigger | None:
        """The trigger at public id ``endpoint``; None for an unknown id (or a trigger no
        longer in glue.yml)."""
        key = self._ids.get(endpoint)
        if key is None:
            key = stored.endpoint(self.store, endpoint)
            if key is not None:
                self._ids[endpoint] = key
        return None if key is None else self.triggers.get(key)

    def _verify(self, trigger: Trigger, d: Delivery, now: float) -> None:
        cached = self._secrets.get(trigger.key)
        fresh = cached is None or now - cached[0] > SECRET_CACHE_S
        secrets = self._load_secrets(trigger, now) if fresh else cached[1]  # type: ignore[index]
        try:
            verify(trigger.scheme, secrets, d, now)
        except SignatureError as exc:
            if fresh or exc.code not in ("mismatch", "no_secret"):
                raise
            verify(trigger.scheme, self._load_secrets(trigger, now), d, now)  # set just now?

    def _tenant_of_token(self, trigger: Trigger, token: str, now: float) -> str | None:
        """The tenant of a URL token (known ones cached for SECRET_CACHE_S: a revoked token
        stops working within that)."""
        cached = self._tokens.get((trigger.key, token))
        if cached is not None and now - cached[0] <= SECRET_CACHE_S:
            return cached[1]
        tenant = stored.tenant_of_token(self.store, trigger, token)
        if tenant is not None:
            if len(self._tokens) > 100_000:
                self._tokens.clear()
            self._tokens[(trigger.key, token)] = (now, tenant)
        return tenant

    def _load_secrets(self, trigger: Trigger, now: float) -> list[str]:
        secrets = stored.secrets_of(self.store, trigger, now)
        self._secrets[trigger.key] = (now, secrets)
        return secrets

    # -- the webhook -----------------------------------------------------------------------

    def receive(self, endpoint: str, token: str | None, d: Delivery) -> Answer:
        """The answer to one webhook whose raw body is ``d.body``."""
        trigger = self.trigger(endpoint)
        if trigger is None or (token is not None) != trigger.tenant_from_url:
            return NOT_FOUND
        now = self.ctx.now()
        tenant = self._tenant_of_token(trigger, token, now) if token else None
        if token is not None and tenant is None:
            return NOT_FOUND
        try:
            self._verify(trigger, d, now)
        except SignatureError as exc:
            return Answer(401, "bad_signature", {"code": exc.code, "message": str(exc)})
        event = _parse(d)
        if event is None:
            return Answer(400, "malformed", {"message": "the body is not JSON"})
        if _slack_challenge(trigger, event):
            return Answer(200, "challenge", {"challenge": event.get("challenge")})
        return self._route(trigger, tenant, event, d.body, now)

    def _route(
        self, trigger: Trigger, tenant: str | None, event: Any, body: bytes, now: float
    ) -> Answer:
        if tenant is None:
            assert trigger.tenant_path is not None
            found = paths.scalars(paths.pick(event, trigger.tenant_path))
            if len(found) != 1:
                why = "no tenant" if not found else "several tenants"
                path = ".".join(trigger.tenant_path)
                return _ignored("no_tenant", f"{why} at {path} in the event")
            tenant = found[0]
        streams, wanted = _streams(trigger, event)
        if not wanted:
            return _ignored("unmapped_event", "the event names no stream this trigger syncs")
        req = JobRequest(
            flow=trigger.flow,
            tenant=tenant,
            connector=trigger.connector,
            started_by="trigger",
            started_ref=trigger.key,
            sync_type=trigger.sync_type,
            streams=streams,
            not_before=now + trigger.debounce_s,
        )
        return self._queue(trigger, req, _dedupe_key(trigger, event, body), now)

    def _queue(self, trigger: Trigger, req: JobRequest, dedupe: str, now: float) -> Answer:
        """Queue the job (or fold into the queued one) and record the delivery in one
        transaction: both or neither. A delivery seen before (a replay, a retry, a twin that
        commits first) fails the unique record and rolls its fold back: a duplicate."""
        endpoint = self._endpoints[(trigger.flow, trigger.name)]
        self._purge(now)
        try:
            with self.store.write() as conn:
                answer = _enqueue(InTransaction(self.store, conn), req, now)
                conn.execute(_RECORD, _delivery(endpoint, dedupe, req.tenant, answer, now))
        except sa.exc.IntegrityError:
            return Answer(200, "duplicate", {"duplicate": True})
        if "job" in answer.body:
            self._notify_executor()
        return answer

    def _purge(self, now: float) -> None:
        """Forget deliveries older than the dedupe window (at most once a minute)."""
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        with self.store.write() as conn:
            conn.execute(
                sa.delete(trigger_deliveries).where(
                    trigger_deliveries.c.received_at < now - DEDUPE_S
                )
            )

    def _notify_executor(self) -> None:
        """Wake this server's executor (if it runs one) so a queued job is claimed at once."""
        executor = self.ctx.extra.get("executor")
        wake = getattr(executor, "notify", None)
        if callable(wake):
            wake()


class InTransaction(Store):
    """The store as seen from inside the caller's transaction: :meth:`write` is a savepoint
    of it, so ``jobs.records.enqueue`` (which writes through ``write``) commits with the
    delivery record, or not at all; its retry on a racing insert rolls back to the savepoint."""

    def __init__(self, store: Store, conn: Connection) -> None:  # no engine of its own
        self.url, self.keyring, self.engine = store.url, store.keyring, store.engine
        self._conn = conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._conn.begin_nested():
            yield self._conn


def _enqueue(store: Store, req: JobRequest, now: float) -> Answer:
    """Queue ``req``; the answer (accepted, coalesced, or ignored for want of a live link)."""
    try:
        job, new = jobs.enqueue(store, req, now=now)
    except jobs.LinkPaused:
        return _ignored("link_paused", f"tenant '{req.tenant}''s link is paused")
    except ConfigError:
        return _ignored("no_link", f"tenant '{req.tenant}' has no link for this trigger")
    outcome = "accepted" if new else "coalesced"
    return Answer(202, outcome, {"job": job.id, "coalesced": not new})


def _delivery(
    endpoint: str, dedupe: str, tenant: str, answer: Answer, now: float
) -> dict[str, Any]:
    """The delivery's row: what dedupes it for 24 h, and what became of it."""
    return {
        "endpoint": endpoint,
        "dedupe": dedupe,
        "received_at": now,
        "tenant": tenant,
        "outcome": answer.outcome,
        "job_id": answer.body.get("job"),
    }


def _parse(d: Delivery) -> Any:
    """The event: the JSON body (Slack's form-encoded ``payload=`` too); None if malformed."""
    body = d.body
    if (d.header("content-type") or "").startswith("application/x-www-form-urlencoded"):
        payload = parse_qs(body.decode("utf-8", "replace")).get("payload")
        if not payload:
            return None
        body = payload[0].encode()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _slack_challenge(trigger: Trigger, event: Any) -> bool:
    """Slack checks a new events URL with a signed ``url_verification``: echo its challenge."""
    return (
        trigger.scheme == "slack"
        and isinstance(event, dict)
        and event.get("type") == "url_verification"
    )


def _streams(trigger: Trigger, event: Any) -> tuple[tuple[str, ...] | None, bool]:
    """The streams the event syncs (None: all) and whether it syncs anything."""
    route = trigger.streams
    if route is None:
        return None, True
    if route.fixed is not None:
        return route.fixed, True
    assert route.path is not None
    values = paths.scalars(paths.pick(event, route.path))
    mapped = [route.map[v] for v in values if v in route.map]
    if len(mapped) < len(values) or not values:  # some value names no stream
        if route.unmapped == "all":
            return None, True
        if not mapped:
            return None, False
    return tuple(sorted({s for streams in mapped for s in streams})), True


def _dedupe_key(trigger: Trigger, event: Any, body: bytes) -> str:
    """The SHA-256 of the signed event id, or of the body when the event has none."""
    if trigger.event_id_path is not None:
        ids = paths.scalars(paths.pick(event, trigger.event_id_path))
        if len(ids) == 1:
            return hashlib.sha256(b"id:" + ids[0].encode()).hexdigest()
    return hashlib.sha256(b"body:" + body).hexdigest()
