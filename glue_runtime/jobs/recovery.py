"""Jobs whose process stopped without recording an end: marked ``interrupted`` (or ``failed``),
and rerun by policy.

A running job records a heartbeat every ``jobs.heartbeat``; one without a heartbeat for
``jobs.stale_after`` lost its process (its server died, or lost the store). On this host an
executor can tell at once: the process named in the job's ``worker`` is gone. Reruns are
ordinary queued jobs (``started_by="rerun"``, ``rerun_of``, ``attempt + 1``) queued through
``records.enqueue``, so they fold into a job already queued for the same link. State needs no
repair: it only ever holds what the targets confirmed (the link's lease and fencing token).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.errors import ConfigError
from glue_runtime.jobs import linkhealth
from glue_runtime.jobs.lifecycle import event_data
from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.records import enqueue, to_job
from glue_runtime.jobs.settings import JobSettings
from glue_runtime.jobs.tables import jobs
from glue_runtime.workspace.outbox import emit
from glue_runtime.workspace.store import Store
from glue_runtime.workspace.tables import leases

log = logging.getLogger("glue_runtime.executor")

# Jobs started from a terminal run in that terminal: a Ctrl-C there is the user's choice, not
# a crash, so no rerun is queued for them.
NOT_RERUN = frozenset({"cli"})


def hostname() -> str:
    return socket.gethostname()


def worker_pid(worker: str | None, host: str) -> int | None:
    """The pid in a ``host:pid`` worker value when it names ``host``; else None."""
    if not worker:
        return None
    name, _, pid = worker.rpartition(":")
    return int(pid) if name == host and pid.isdigit() else None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as gone: it runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with (
        contextlib.suppress(OSError),
        open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat,
    ):
        return stat.read().rpartition(")")[2].split()[0] != "Z"
    return True


def _when(ts: float | None) -> str:
    if ts is None:
        return "it started"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def end_job(
    conn: Connection,
    job: Job,
    status: str,
    error: str,
    now: float,
    exit_code: int | None = None,
    *,
    was: str = "running",
    pause_after: int | None = None,
) -> bool:
    """Record the end of a job its process could not record: only while the store still says
    ``was`` (the process may have recorded its end meanwhile). True when this recorded it.
    A ``failed`` end counts against the link, an ``interrupted`` one does not (the server, not
    the link, stopped it); both emit ``job.failed``. ``pause_after``: the
    ``jobs.pause_after_failures`` setting (None: never pause)."""
    done = conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job.id, jobs.c.status == was)
        .values(status=status, error=error, ended_at=now, exit_code=exit_code)
    ).rowcount
    if not done:
        return False
    ended = to_job(conn.execute(sa.select(jobs).where(jobs.c.id == job.id)).one())
    emit(conn, "job.failed", event_data(ended), tenant=job.tenant)
    if status == "failed":
        linkhealth.after_job(conn, ended, False, pause_after=pause_after, now=now)
    return True


def reread(store: Store, job_id: str) -> Job:
    with store.engine.connect() as conn:
        return to_job(conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one())


@dataclass(frozen=True)
class Recovered:
    """What one recovery pass did: jobs it marked interrupted, and the reruns it queued."""

    interrupted: tuple[str, ...] = ()
    reruns: tuple[str, ...] = ()


def _stale(store: Store, settings: JobSettings, now: float, host: str, at_start: bool) -> list[Job]:
    """Running jobs whose heartbeat is older than ``stale_after``; at start, also this host's
    running jobs whose process is gone."""
    limit = now - settings.stale_after_s
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(jobs).where(jobs.c.status == "running")).all()
    found = []
    for row in rows:
        job = to_job(row)
        beat = job.heartbeat_at if job.heartbeat_at is not None else job.started_at
        if beat is not None and beat < limit:
            found.append(job)
            continue
        pid = worker_pid(job.worker, host)
        if at_start and pid is not None and not pid_alive(pid):
            found.append(job)
    return found


def interrupt_stale(
    store: Store, settings: JobSettings, now: float, *, at_start: bool = False
) -> list[Job]:
    """Mark stale running jobs ``interrupted``; the jobs this pass marked."""
    host = hostname()
    marked = []
    for job in _stale(store, settings, now, host, at_start):
        beat = job.heartbeat_at if job.heartbeat_at is not None else job.started_at
        error = f"the process running it stopped: no heartbeat since {_when(beat)}"
        if worker_pid(job.worker, host) is not None and at_start:
            error = f"the process running it ({job.worker}) is gone (last heartbeat {_when(beat)})"
        pid = worker_pid(job.worker, host)
        with store.write() as conn:
            if end_job(conn, job, "interrupted", error, now):
                marked.append(job)
                if pid is not None and not pid_alive(pid):
                    free_lease_of_dead(conn, job.key, host, pid)
                log.warning("job %s (%s) interrupted: %s", job.id, job.key, error)
    return marked


def free_lease_of_dead(conn: Connection, key: str, host: str, pid: int) -> None:
    """Free the state lease a dead process of this host held on ``key``, so the rerun need not
    wait for it to expire. Safe: the holder is gone, and its fencing token is spent anyway."""
    conn.execute(
        sa.update(leases)
        .where(
            leases.c.key == key,
            leases.c.host == host,
            leases.c.pid == pid,
            leases.c.owner.is_not(None),
        )
        .values(owner=None)
    )


def _lease_expiry(store: Store, key: str) -> float | None:
    """When the lease someone holds on ``key`` expires (None: nobody holds it)."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(leases.c.expires_at).where(leases.c.key == key, leases.c.owner.is_not(None))
        ).scalar()


def rerun(store: Store, job: Job, settings: JobSettings, now: float) -> Job | None:
    """Queue a rerun of interrupted ``job`` if the policy allows one; the queued job (or the
    queued job it folded into), or None."""
    if not settings.rerun_interrupted or job.attempt >= settings.max_attempts:
        return None
    if job.started_by in NOT_RERUN or job.cancel_requested:
        return None
    # A holder on another host that stopped heartbeating may still hold the state lease: the
    # rerun waits for it to expire instead of failing on it.
    expiry = _lease_expiry(store, job.key)
    request = JobRequest(
        not_before=expiry + 0.5 if expiry is not None and expiry > now else None,
        flow=job.flow,
        tenant=job.tenant,
        connector=job.connector,
        started_by="rerun",
        started_ref=job.id,
        sync_type=job.sync_type,
        streams=tuple(job.streams) if job.streams is not None else None,
        start_date=job.start_date,
        rerun_of=job.id,
        attempt=job.attempt + 1,
    )
    try:
        queued, _new = enqueue(store, request, now=now)
    except ConfigError as exc:  # the link is gone or paused: nothing to rerun
        log.info("no rerun of job %s: %s", job.id, exc.message)
        return None
    log.info("job %s queued to rerun interrupted job %s", queued.id, job.id)
    return queued


def _owed(store: Store, settings: JobSettings) -> list[Job]:
    """Interrupted jobs the policy reruns that no newer job of the same link covers (a newer
    job, queued or run, resumes from the same state, so the interrupted one's work is done by
    it: this is also how a rerun that folded into a queued job is recognised)."""
    if not settings.rerun_interrupted:
        return []
    newer = sa.alias(jobs, "newer")
    covered = sa.exists().where(
        newer.c.flow == jobs.c.flow,
        newer.c.tenant == jobs.c.tenant,
        newer.c.connector == jobs.c.connector,
        newer.c.created_at > jobs.c.created_at,
    )
    query = sa.select(jobs).where(
        jobs.c.status == "interrupted",
        jobs.c.attempt < settings.max_attempts,
        jobs.c.started_by.not_in(sorted(NOT_RERUN)),
        jobs.c.cancel_requested.is_(False),
        ~covered,
    )
    with store.engine.connect() as conn:
        return [to_job(r) for r in conn.execute(query.order_by(jobs.c.created_at)).all()]


def rerun_owed(store: Store, settings: JobSettings, now: float) -> list[Job]:
    """Queue the reruns interrupted jobs are owed (a job drained when its server died records
    ``interrupted`` itself, with nobody left to rerun it); the queued jobs."""
    queued = []
    for job in _owed(store, settings):
        again = rerun(store, job, settings, now)
        if again is not None:
            queued.append(again)
    return queued


def release_dead_reservations(store: Store) -> int:
    """Queued jobs reserved by an executor of this host that is gone: free at once (another
    host's go void after ``stale_after``, see jobs/pick.py)."""
    host = hostname()
    query = sa.select(jobs.c.id, jobs.c.worker).where(
        jobs.c.status == "queued", jobs.c.worker.is_not(None)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    dead = [
        r.id for r in rows if (pid := worker_pid(r.worker, host)) is not None and not pid_alive(pid)
    ]
    if not dead:
        return 0
    with store.write() as conn:
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(dead), jobs.c.status == "queued")
            .values(worker=None, heartbeat_at=None)
        )
    return len(dead)


def recover(
    store: Store, settings: JobSettings, now: float, *, at_start: bool = False
) -> Recovered:
    """One pass: interrupt stale jobs, then queue every rerun owed; at start, also free the
    reservations of this host's dead executors."""
    if at_start:
        release_dead_reservations(store)
    marked = interrupt_stale(store, settings, now, at_start=at_start)
    queued = rerun_owed(store, settings, now)
    return Recovered(tuple(j.id for j in marked), tuple(j.id for j in queued))
