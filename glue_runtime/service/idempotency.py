"""``Idempotency-Key`` on ``POST .../jobs``: the same key from the same service key within
24 hours gets the first request's jobs back; the same key with a different body is refused.

The record holds hashes only (of the header's value and of the request), and the ids of the
jobs the first request started.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

from glue_runtime.service.errors import ApiError
from glue_runtime.service.tables import idempotency_keys
from glue_runtime.workspace.store import Store

WINDOW_S = 24 * 3600.0
MAX_KEY = 255


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_hash(request: dict[str, Any]) -> str:
    """A stable hash of what was asked (keys sorted, so field order does not matter)."""
    return _sha(json.dumps(request, sort_keys=True, separators=(",", ":")))


def check_key(value: str) -> str:
    """The header's value, or a 400 naming the header when it is empty or too long."""
    if not value.strip() or len(value) > MAX_KEY:
        raise ApiError(
            400,
            f"the Idempotency-Key header must be 1 to {MAX_KEY} characters",
            field="header.Idempotency-Key",
        )
    return value


def recall(store: Store, service_key: str, key: str, req_hash: str, now: float) -> list[str] | None:
    """The job ids a request with ``key`` got within the window; None when there was none.
    422 when that request asked something else."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(idempotency_keys).where(
                idempotency_keys.c.service_key == service_key,
                idempotency_keys.c.key_hash == _sha(key),
                idempotency_keys.c.created_at > now - WINDOW_S,
            )
        ).first()
    if row is None:
        return None
    if row.request_hash != req_hash:
        raise ApiError(
            422,
            "this Idempotency-Key was used with a different request in the last 24 hours",
            code="idempotency_mismatch",
            field="header.Idempotency-Key",
            hint="use a new key for a new request",
        )
    ids: list[str] = json.loads(row.job_ids)
    return ids


def remember(
    store: Store, service_key: str, key: str, req_hash: str, job_ids: list[str], now: float
) -> list[str]:
    """Record the answer to ``key``; when a racing request recorded first, its job ids."""
    key_hash = _sha(key)
    where = (idempotency_keys.c.service_key == service_key, idempotency_keys.c.key_hash == key_hash)
    try:
        with store.write() as conn:
            conn.execute(  # an expired record of the same key makes way
                sa.delete(idempotency_keys).where(
                    *where, idempotency_keys.c.created_at <= now - WINDOW_S
                )
            )
            conn.execute(
                sa.insert(idempotency_keys).values(
                    service_key=service_key,
                    key_hash=key_hash,
                    job_ids=json.dumps(job_ids),
                    request_hash=req_hash,
                    created_at=now,
                )
            )
    except sa.exc.IntegrityError:
        first = recall(store, service_key, key, req_hash, now)
        if first is not None:
            return first
        raise
    return job_ids
