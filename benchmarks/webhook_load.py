"""Webhook intake under load: signed webhooks per second against one `glue serve`.

    python benchmarks/webhook_load.py                        # 1000/s for 60 s, 100 tenants
    python benchmarks/webhook_load.py --rate 300 --duration 30 --store 'postgresql://...'
    python benchmarks/webhook_load.py --quick                # what the smoke test runs

Phase 1 (intake): `glue serve --no-executor` on the store (PostgreSQL from --store or
GLUE_TEST_PG_DSN, in a schema of its own; else SQLite), and N signed webhooks per second
(the project's own Glue-Signature, each a distinct event) across the tenants, sent open-loop
from load-generator processes (threads with keep-alive sessions). Reports accepted/s, p50/p99
accept latency, jobs queued, webhooks lost (answered 202 but in no job: must be 0) and
duplicate jobs (a second queued job of one key: must be 0). The baseline is GET /healthz at
the same rate from the same generator: the ratio says what the intake costs over the
server's floor.

Phase 2 (jobs): the same server with its executor, tiny jobs (the bundled files tap, one
record, into SQLite) started by webhooks; reports jobs per minute.

Prints a JSON summary last (``--out FILE`` writes it too).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from contextlib import contextmanager
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import quote

GLUE_YML = """
name: webhook-load
server:
  public_url: http://127.0.0.1:{port}
flows:
  load:
    sources:
      files:
        connector: files
        config:
          streams: [{{name: orders, path: orders, key_properties: [id]}}]
    targets:
      db:
        connector: sqlite
        config: {{database: "out/{{tenant}}.db"}}
    triggers:
      hook:
        connector: files
        scheme: glue
        tenant: {{from: body, path: tenant}}
        debounce: {debounce}
"""
SECRET = "load-test-secret-" + "x" * 32
LATE_S = 15.0  # a generator this far behind its schedule stops sending (counted as not sent)


def cpu_s(pid: int) -> float:
    """The CPU seconds (user + system) process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the workspace and the server ------------------------------------------------------------


def pg_url(dsn: str) -> tuple[str, str]:
    """A fresh schema on ``dsn``: the store URL whose tables go there, and the schema."""
    import psycopg

    schema = f"webhook_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options={quote(f'-csearch_path={schema}')}", schema


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def make_workspace(root: Path, store_url: str | None, tenants: int, port: int) -> dict[str, str]:
    """A workspace with one flow, one glue-scheme trigger and ``tenants`` linked tenants;
    the environment its processes need."""
    from glue_runtime.service.triggers import records
    from glue_runtime.service.triggers.settings import trigger
    from glue_runtime.workspace.config import load_workspace
    from glue_runtime.workspace.crypto import Keyring, new_key
    from glue_runtime.workspace.store import Store

    root.mkdir(parents=True)
    (root / "glue.yml").write_text(GLUE_YML.format(port=port, debounce=0))
    (root / ".glue").mkdir()
    key = new_key()
    url = store_url or f"sqlite:///{root / '.glue' / 'store.db'}"
    store = Store(url, Keyring.from_texts([key], "bench"))
    store.create()
    for i in range(tenants):
        tenant = f"t{i:03d}"
        data = root / "data" / tenant / "orders"
        data.mkdir(parents=True)
        (data / "part-1.jsonl").write_text(json.dumps({"id": i, "tenant": tenant}) + "\n")
        store.add_tenant(tenant)
        store.save_link(
            flow="load",
            tenant=tenant,
            connector="files",
            direction="read",
            auth="none",
            settings={"base_dir": str(root / "data" / tenant)},
            secrets=None,
        )
    env = {"GLUE_SECRET_KEY": key, "GLUE_WORKSPACE": str(root), "GLUE_STORE_URL": url}
    os.environ.update(env)
    hook = trigger(load_workspace(root), "load", "hook")
    records.put_secret(store, hook, SECRET, origin="set")
    env["HOOK_URL"] = f"/v1/hooks/{records.endpoint_id(store, hook)}"
    store.close()
    return env


@contextmanager
def serving(root: Path, env: dict[str, str], port: int, executor: bool) -> Any:
    """`glue serve` on ``port`` until the block ends (SIGTERM, then wait)."""
    import requests

    args = [sys.executable, "-m", "glue_runtime", "serve", "--port", str(port), "--no-access-log"]
    log = (root / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        args + ([] if executor else ["--no-executor"]),
        cwd=root,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"glue serve exited {proc.returncode}: see {log.name}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("glue serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# -- the load generator ----------------------------------------------------------------------


def _sender(
    job: dict[str, Any], start_at: float, slots: list[float], out: list[tuple[int, float, float]]
) -> None:
    """Send at each slot (seconds after ``start_at``); (status, latency, lag) per request.
    http.client on one keep-alive connection: the lightest client the standard library has,
    so the generator takes as little of the machine's CPU from the server as it can."""
    from http.client import HTTPConnection

    from glue_runtime.service.signing import sign

    host, port = job["base"].removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=30)
    give_up = start_at + job["duration"] + LATE_S
    for n, slot in enumerate(slots):
        if time.time() > give_up:  # the server is this far behind: what is left is not sent
            out.extend((0, 0.0, 0.0) for _ in slots[n:])
            break
        at = start_at + slot
        wait = at - time.time()
        if wait > 0:
            time.sleep(wait)
        method, body, headers = "GET", b"", {}
        if job["kind"] == "hook":
            seq = f"{job['worker']}-{job['thread']}-{n}"
            tenant = f"t{zlib.crc32(seq.encode()) % job['tenants']:03d}"
            body = json.dumps({"id": f"evt_{job['run']}_{seq}", "tenant": tenant}).encode()
            method = "POST"
            headers = {
                "Glue-Signature": sign(SECRET, body, int(time.time())),
                "Content-Type": "application/json",
            }
        sent = time.time()
        try:
            conn.request(method, job["path"], body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, HTTPException):
            conn.close()  # reconnects on the next request
            status = -1
        out.append((status, time.time() - sent, sent - at))
    conn.close()


def _worker(job: dict[str, Any], queue: Any) -> None:
    """One load-generator process: ``threads`` senders sharing its slice of the schedule."""
    per = job["rate"] / job["workers"] / job["threads"]
    count = int(per * job["duration"])
    results: list[list[tuple[int, float, float]]] = []
    threads = []
    for t in range(job["threads"]):
        offset = (job["worker"] * job["threads"] + t) / (job["rate"] or 1)
        slots = [offset + i / per for i in range(count)]
        results.append([])
        thread = threading.Thread(
            target=_sender, args=({**job, "thread": t}, job["start_at"], slots, results[-1])
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    queue.put([r for rs in results for r in rs])


def load(
    base: str, path: str, kind: str, rate: int, duration: float, tenants: int, procs: int
) -> dict[str, Any]:
    """``rate`` requests/s for ``duration`` s from ``procs`` processes; the figures."""
    threads = max(1, min(64, rate // procs // 20 or 1))
    queue: Any = mp.get_context("fork").Queue()
    start_at = time.time() + 1.0
    run = uuid.uuid4().hex[:8]
    job = dict(
        base=base, path=path, kind=kind, rate=rate, duration=duration, tenants=tenants,
        workers=procs, threads=threads, start_at=start_at, run=run,
    )  # fmt: skip
    workers = [
        mp.get_context("fork").Process(target=_worker, args=({**job, "worker": w}, queue))
        for w in range(procs)
    ]
    for w in workers:
        w.start()
    results = [r for _ in workers for r in queue.get()]
    for w in workers:
        w.join()
    ended = max((start_at + duration), time.time())
    ok = [r for r in results if 200 <= r[0] < 300]
    tried = [r for r in results if r[0] != 0]
    latencies = sorted(r[1] for r in ok) or [0.0]
    return {
        "offered": len(results),
        "sent": len(tried),
        "ok": len(ok),
        "statuses": {str(s): sum(1 for r in tried if r[0] == s) for s in {r[0] for r in tried}},
        "per_s": round(len(ok) / (ended - start_at), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 2),
        "max_lag_ms": round(max((r[2] for r in tried), default=0.0) * 1000, 1),
    }


# -- what the store says ---------------------------------------------------------------------


def store_counts(env: dict[str, str]) -> dict[str, int]:
    """Jobs by status, events folded into them, and duplicate queued/running jobs per key."""
    import sqlalchemy as sa

    from glue_runtime.jobs.tables import jobs
    from glue_runtime.service.triggers.tables import trigger_deliveries
    from glue_runtime.workspace.store import Store

    store = Store(env["GLUE_STORE_URL"])
    with store.engine.connect() as conn:
        by_status = dict(
            conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all()
        )
        folded = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(jobs.c.folded), 0))).scalar()
        dupes = conn.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(jobs.c.flow, jobs.c.tenant, jobs.c.connector, jobs.c.status)
                .where(jobs.c.status.in_(("queued", "running")))
                .group_by(jobs.c.flow, jobs.c.tenant, jobs.c.connector, jobs.c.status)
                .having(sa.func.count() > 1)
                .subquery()
            )
        ).scalar()
        seen = conn.execute(sa.select(sa.func.count()).select_from(trigger_deliveries)).scalar()
        in_jobs = conn.execute(  # accepted deliveries whose job exists
            sa.select(sa.func.count())
            .select_from(trigger_deliveries.join(jobs, jobs.c.id == trigger_deliveries.c.job_id))
            .where(trigger_deliveries.c.outcome.in_(("accepted", "coalesced")))
        ).scalar()
    store.close()
    return {
        "jobs": sum(by_status.values()),
        **{f"jobs_{k}": v for k, v in by_status.items()},
        "folded": int(folded or 0),
        "duplicate_jobs": int(dupes or 0),
        "deliveries": int(seen or 0),
        "deliveries_in_jobs": int(in_jobs or 0),
    }


def cancel_queued(env: dict[str, str]) -> None:
    from glue_runtime.jobs.lifecycle import cancel
    from glue_runtime.jobs.records import list_jobs
    from glue_runtime.workspace.store import Store

    store = Store(env["GLUE_STORE_URL"])
    for job in list_jobs(store, status="queued", limit=100_000):
        cancel(store, job.id, now=time.time())
    store.close()


def wait_jobs_done(env: dict[str, str], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        counts = store_counts(env)
        if not counts.get("jobs_queued") and not counts.get("jobs_running"):
            return counts
        if time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def failed_errors(env: dict[str, str], limit: int = 3) -> list[str]:
    import sqlalchemy as sa

    from glue_runtime.jobs.tables import jobs
    from glue_runtime.workspace.store import Store

    store = Store(env["GLUE_STORE_URL"])
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.select(jobs.c.error).where(jobs.c.status == "failed").limit(limit)
        ).scalars()
        errors = [str(e)[:300] for e in found]
    store.close()
    return errors


def job_span_s(env: dict[str, str]) -> float:
    import sqlalchemy as sa

    from glue_runtime.jobs.tables import jobs
    from glue_runtime.workspace.store import Store

    store = Store(env["GLUE_STORE_URL"])
    with store.engine.connect() as conn:
        first, last = conn.execute(
            sa.select(sa.func.min(jobs.c.started_at), sa.func.max(jobs.c.ended_at)).where(
                jobs.c.status == "succeeded"
            )
        ).one()
    store.close()
    return float(last - first) if first and last else 0.0


# -- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=int, default=1000, help="webhooks per second (default 1000)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--tenants", type=int, default=100)
    p.add_argument("--procs", type=int, default=2, help="load-generator processes")
    p.add_argument(
        "--store",
        default="auto",
        help="a PostgreSQL DSN, or sqlite (default: GLUE_TEST_PG_DSN when set, else SQLite)",
    )
    p.add_argument("--job-rate", type=int, default=20, help="webhooks/s in the jobs phase")
    p.add_argument("--job-duration", type=float, default=30.0)
    p.add_argument("--job-tenants", type=int, default=10, help="tenants the jobs phase uses")
    p.add_argument("--no-jobs", action="store_true", help="skip the jobs phase")
    p.add_argument("--quick", action="store_true", help="a few seconds of each phase")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    if a.quick:
        a.rate, a.duration, a.tenants = min(a.rate, 40), min(a.duration, 3.0), min(a.tenants, 10)
        a.job_rate, a.job_duration = min(a.job_rate, 5), min(a.job_duration, 2.0)
        a.job_tenants = min(a.job_tenants, 5)
    dsn = os.environ.get("GLUE_TEST_PG_DSN") if a.store == "auto" else a.store
    dsn = None if dsn == "sqlite" else dsn
    folder = Path(tempfile.mkdtemp(prefix="webhook-load-"))
    url, schema = pg_url(dsn) if dsn else (None, "")
    try:
        return run(a, folder, url)
    finally:
        if dsn and schema:
            drop_schema(dsn, schema)


def run(a: argparse.Namespace, folder: Path, url: str | None) -> dict[str, Any]:
    port = free_port()
    env = make_workspace(folder / "ws", url, a.tenants, port)
    base = f"http://127.0.0.1:{port}"
    summary: dict[str, Any] = {
        "store": "postgresql" if url else "sqlite",
        "rate": a.rate,
        "duration_s": a.duration,
        "tenants": a.tenants,
        "cpus": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 2),  # a shared machine skews it all
    }
    with serving(folder / "ws", env, port, executor=False) as server:
        for name, path, kind in (
            ("healthz", "/healthz", "get"),
            ("intake", env["HOOK_URL"], "hook"),
        ):
            cpu = cpu_s(server.pid)
            got = load(base, path, kind, a.rate, a.duration, a.tenants, a.procs)
            got["server_cpu_ms_each"] = round(
                (cpu_s(server.pid) - cpu) / (got["ok"] or 1) * 1000, 2
            )
            summary[name] = got
        intake = summary["intake"]
    counts = store_counts(env)
    accepted = intake["statuses"].get("202", 0)
    summary["store_after_intake"] = counts
    # Lost: answered 202 but not recorded against an existing job.
    summary["webhooks_lost"] = accepted - counts["deliveries_in_jobs"]
    # Each accepted webhook made a job or folded into one: a shortfall is folds counted over
    # each other (jobs/records.py's fold reads the queued row without locking it).
    summary["folds_uncounted"] = accepted - (counts["jobs"] + counts["folded"])
    summary["duplicate_jobs"] = counts["duplicate_jobs"]
    floor = summary["healthz"]["per_s"] or 1.0
    summary["intake_vs_healthz_throughput"] = round(intake["per_s"] / floor, 3)
    summary["intake_vs_healthz_p50"] = round(
        intake["p50_ms"] / (summary["healthz"]["p50_ms"] or 1.0), 2
    )
    if not a.no_jobs:
        summary["jobs_phase"] = jobs_phase(a, folder, env, base, port)
    text = json.dumps(summary, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text)
    return summary


def jobs_phase(
    a: argparse.Namespace, folder: Path, env: dict[str, str], base: str, port: int
) -> dict[str, Any]:
    """Webhooks with the executor running tiny jobs: jobs per minute."""
    cancel_queued(env)  # the intake phase's jobs: this phase counts its own
    with serving(folder / "ws", env, port, executor=True):
        before = store_counts(env)
        sent = load(base, env["HOOK_URL"], "hook", a.job_rate, a.job_duration, a.job_tenants, 1)
        counts = wait_jobs_done(env, timeout=600)
    succeeded = counts.get("jobs_succeeded", 0) - before.get("jobs_succeeded", 0)
    span = job_span_s(env)
    errors = failed_errors(env)
    return {
        "webhooks": sent,
        "jobs_succeeded": succeeded,
        "jobs_failed": counts.get("jobs_failed", 0),
        "failures": errors,
        "jobs_per_minute": round(succeeded / span * 60, 1) if span else 0.0,
        "duplicate_jobs": counts["duplicate_jobs"],
    }


if __name__ == "__main__":
    main()
