"""A stand-in for ``glue jobs exec JOB_ID`` for the executor's tests: claims the job, heartbeats,
runs it, records its end, as the real command does (the executor only needs that contract).

``python exec_standin.py ROOT JOB_ID`` with ``STANDIN_MODE``:
- ``gate`` (default): after claiming, wait until the file ``STANDIN_GATE/<job id>`` or
  ``STANDIN_GATE/all`` exists, then succeed; SIGTERM records ``cancelled`` when a cancel was
  asked, else ``interrupted``. Each claim appends a line to ``STANDIN_GATE/claims.log``.
- ``run``: run the job's linked source for real (connectors, lease, state in the store).
- ``crash``: exit 3 after claiming, recording nothing.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from glue_runtime.jobs.tables import jobs
from glue_runtime.workspace.open import open_workspace


def claim(store, job_id: str) -> bool:
    now = time.time()
    try:
        with store.write() as conn:
            return bool(
                conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == "queued")
                    .values(
                        status="running",
                        started_at=now,
                        heartbeat_at=now,
                        worker=f"{socket.gethostname()}:{os.getpid()}",
                    )
                ).rowcount
            )
    except sa.exc.IntegrityError:
        return False


def end(store, job_id: str, status: str, error: str | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running")
            .values(status=status, ended_at=time.time(), error=error)
        )


def heartbeat(store, job_id: str, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        with store.write() as conn:
            conn.execute(
                sa.update(jobs).where(jobs.c.id == job_id).values(heartbeat_at=time.time())
            )


def cancel_asked(store, job_id: str) -> bool:
    with store.engine.connect() as conn:
        return bool(
            conn.execute(sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar()
        )


def gate(store, job_id: str) -> None:
    folder = Path(os.environ["STANDIN_GATE"])
    with (folder / "claims.log").open("a") as log:
        log.write(f"{job_id} {time.time()}\n")
    stopped = threading.Event()

    def on_term(signum, frame):
        stopped.set()

    signal.signal(signal.SIGTERM, on_term)
    while not stopped.wait(0.05):
        if (folder / job_id).exists() or (folder / "all").exists():
            end(store, job_id, "succeeded")
            return
    end(store, job_id, "cancelled" if cancel_asked(store, job_id) else "interrupted", "stopped")


def run(opened, job_id: str) -> None:
    from glue_runtime.workspace.runbuild import RunOptions, run_link
    from glue_runtime.workspace.runs import select_jobs

    with opened.store.engine.connect() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
    (link_job,) = select_jobs(opened, row.flow, tenant=row.tenant, connector=row.connector)
    result = run_link(opened, link_job, RunOptions())
    if result.status == "interrupted" and cancel_asked(opened.store, job_id):
        status = "cancelled"
    else:
        status = {"success": "succeeded"}.get(result.status, result.status)
    end(opened.store, job_id, status, None if result.error is None else str(result.error))


def main() -> None:
    root, job_id = sys.argv[1], sys.argv[2]
    mode = os.environ.get("STANDIN_MODE", "gate")
    opened = open_workspace(Path(root))
    store = opened.store
    if not claim(store, job_id):
        sys.exit(0)
    if mode == "crash":
        os._exit(3)
    stop = threading.Event()
    every = float(os.environ.get("STANDIN_HEARTBEAT", "0.2"))
    threading.Thread(target=heartbeat, args=(store, job_id, every, stop), daemon=True).start()
    try:
        if mode == "run":
            run(opened, job_id)
        else:
            gate(store, job_id)
    finally:
        stop.set()


if __name__ == "__main__":
    main()
