"""Job records in the store: create (folding into a queued one), read, list.

Claiming, heartbeats, logs, samples and the end of a job live beside this (lifecycle.py);
this module is what every way of starting a job calls.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.jobs.model import SYNC_TYPES, Job, JobRequest
from glue_runtime.jobs.tables import jobs
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.workspace.store import Store
from glue_runtime.workspace.tables import links


class LinkPaused(ConfigError):
    """The link is paused (by hand, or after failing too often): it starts no job."""


_FOLD_TRIES = 5


def new_job_id() -> str:
    """A job id: ``j`` and 16 url-safe random characters (96 bits), so ids cannot be guessed;
    the letter first, so an id never starts with ``-`` (a command line would read an option)."""
    return "j" + secrets.token_urlsafe(12)


def json_text(value: Any) -> str | None:
    """A JSON column's text (exact numbers); None stays NULL."""
    return None if value is None else dumps_exact(value).decode()


def _unjson(text: str | None) -> Any:
    return None if text is None else loads_exact(text)


def to_job(r: Any) -> Job:
    """A ``jobs`` row as a :class:`Job`."""
    return Job(
        id=r.id,
        flow=r.flow,
        tenant=r.tenant,
        connector=r.connector,
        status=r.status,
        started_by=r.started_by,
        started_ref=r.started_ref,
        sync_type=r.sync_type,
        streams=_unjson(r.streams),
        start_date=r.start_date,
        folded=r.folded,
        rerun_of=r.rerun_of,
        attempt=r.attempt,
        created_at=r.created_at,
        not_before=r.not_before,
        started_at=r.started_at,
        ended_at=r.ended_at,
        heartbeat_at=r.heartbeat_at,
        worker=r.worker,
        cancel_requested=bool(r.cancel_requested),
        counts=_unjson(r.counts) or {},
        error=r.error,
        exit_code=r.exit_code,
        state_before=_unjson(r.state_before),
        state_after=_unjson(r.state_after),
        result=_unjson(r.result),
    )


def _folded_values(queued: Any, req: JobRequest) -> dict[str, Any]:
    """A queued job with another start folded in: every stream either asked for (all when
    either asked for all), the stronger sync type, the earlier start date override."""
    streams = _unjson(queued.streams)
    if streams is None or req.streams is None:
        merged: list[str] | None = None
    else:
        merged = sorted(set(streams) | set(req.streams))
    sync_type = max(queued.sync_type, req.sync_type, key=SYNC_TYPES.index)
    dates = [d for d in (queued.start_date, req.start_date) if d]
    return {
        "folded": queued.folded + 1,
        "streams": json_text(merged),
        "sync_type": sync_type,
        "start_date": min(dates) if dates else None,
    }


def enqueue(store: Store, req: JobRequest, *, now: float | None = None) -> tuple[Job, bool]:
    """Queue ``req``; or, when its (flow, tenant, connector) already has a queued job, fold it
    into that one. Returns the job and whether it is a new one. The database's unique index
    decides between racing servers: the loser retries and folds."""
    if req.sync_type not in SYNC_TYPES:
        raise ConfigError(
            f"unknown sync type '{req.sync_type}'", hint=f"one of: {', '.join(SYNC_TYPES)}"
        )
    now = time.time() if now is None else now
    for _ in range(_FOLD_TRIES):
        try:
            return _enqueue_once(store, req, now)
        except sa.exc.IntegrityError:
            continue  # another server queued the same key between our read and insert
    raise ConfigError(f"could not queue a job for {req.flow}/{req.tenant}/{req.connector}")


def _check_link(conn: sa.Connection, req: JobRequest) -> None:
    """A job needs the tenant's read link to the connector, not paused."""
    link = conn.execute(
        sa.select(links.c.direction, links.c.paused_at, links.c.paused_reason).where(
            links.c.flow == req.flow,
            links.c.tenant == req.tenant,
            links.c.connector == req.connector,
        )
    ).first()
    where = f"{req.flow}/{req.tenant}/{req.connector}"
    if link is None or link.direction != "read":
        raise ConfigError(
            f"tenant '{req.tenant}' has no linked source '{req.connector}' in flow '{req.flow}'",
            hint=f"link it: glue link {req.flow} {req.connector} --tenant {req.tenant}",
        )
    if link.paused_at is not None:
        raise LinkPaused(
            f"the link {where} is paused"
            + (f" ({link.paused_reason})" if link.paused_reason else ""),
            hint=f"resume it: glue links resume {req.flow} {req.connector} --tenant {req.tenant}",
        )


def _enqueue_once(store: Store, req: JobRequest, now: float) -> tuple[Job, bool]:
    with store.write() as conn:
        _check_link(conn, req)
        queued = conn.execute(
            sa.select(jobs)
            .where(
                jobs.c.flow == req.flow,
                jobs.c.tenant == req.tenant,
                jobs.c.connector == req.connector,
                jobs.c.status == "queued",
            )
            # Folds into one queued job serialise on its row (PostgreSQL; SQLite's write
            # transaction already does): without the lock, concurrent folds lose updates.
            .with_for_update()
        ).first()
        if queued is not None:
            conn.execute(
                sa.update(jobs).where(jobs.c.id == queued.id).values(**_folded_values(queued, req))
            )
            job_id, new = queued.id, False
        else:
            job_id, new = new_job_id(), True
            conn.execute(
                sa.insert(jobs).values(
                    id=job_id,
                    flow=req.flow,
                    tenant=req.tenant,
                    connector=req.connector,
                    status="queued",
                    started_by=req.started_by,
                    started_ref=req.started_ref,
                    sync_type=req.sync_type,
                    streams=json_text(list(req.streams) if req.streams is not None else None),
                    start_date=req.start_date,
                    folded=0,
                    rerun_of=req.rerun_of,
                    attempt=req.attempt,
                    created_at=now,
                    not_before=req.not_before if req.not_before is not None else now,
                    cancel_requested=False,
                )
            )
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
    return to_job(row), new


def get(store: Store, job_id: str, *, tenant: str | None = None) -> Job:
    """The job ``job_id``; ConfigError when there is none, or when ``tenant`` is given and the
    job is another tenant's (the same message: a scoped caller learns nothing by guessing)."""
    with store.engine.connect() as conn:
        query = sa.select(jobs).where(jobs.c.id == job_id)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        row = conn.execute(query).first()
    if row is None:
        raise ConfigError(f"no job '{job_id}'", hint="`glue jobs list` shows the jobs")
    return to_job(row)


def list_jobs(
    store: Store,
    *,
    flow: str | None = None,
    tenant: str | None = None,
    connector: str | None = None,
    status: str | Iterable[str] | None = None,
    since: float | None = None,
    limit: int = 100,
    before: str | None = None,
) -> list[Job]:
    """Jobs, newest first, filtered; ``before`` (a job id) pages on from that job."""
    query = sa.select(jobs)
    if flow is not None:
        query = query.where(jobs.c.flow == flow)
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    if connector is not None:
        query = query.where(jobs.c.connector == connector)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        query = query.where(jobs.c.status.in_(wanted))
    if since is not None:
        query = query.where(jobs.c.created_at >= since)
    with store.engine.connect() as conn:
        if before is not None:
            anchor = conn.execute(sa.select(jobs.c.created_at).where(jobs.c.id == before)).first()
            if anchor is not None:
                query = query.where(jobs.c.created_at < anchor.created_at)
        rows = conn.execute(query.order_by(jobs.c.created_at.desc()).limit(limit)).all()
    return [to_job(r) for r in rows]
