"""Throughput of target-postgres: N records (default 100k) piped into the real console script.

    .venv/bin/python connectors/postgres/bench/bench_target.py [N] [--keys]

The server is GLUE_TEST_PG_DSN, or the one scripts/start-postgres.sh starts. Prints records/s
for the whole process (startup, parsing, validation, COPY, upsert, commit) by wall clock, and
the target process's CPU time (the server's own work is not in it). With --keys the stream has
a key property (COPY to a stage + INSERT ... ON CONFLICT); without, a plain COPY. The bench
schema is dropped afterwards.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[3]

PROPS = {
    "id": {"type": "integer"},
    "name": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "score": {"type": ["number", "null"]},
    "active": {"type": ["boolean", "null"]},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
    "meta": {"type": ["object", "null"]},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
}


def write_input(path: Path, n: int, keys: bool) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "bench",
        "schema": {"type": "object", "properties": PROPS},
        "key_properties": ["id"] if keys else [],
    }
    with path.open("w") as fh:
        fh.write(json.dumps(schema) + "\n")
        for i in range(n):
            record = {
                "id": i,
                "name": f"name {i}",
                "email": f"user{i}@example.com",
                "score": i * 0.5,
                "active": i % 2 == 0,
                "updated_at": "2024-05-01T10:00:00+00:00",
                "meta": {"i": i, "even": i % 2 == 0},
                "tags": ["a", "b"],
            }
            fh.write(json.dumps({"type": "RECORD", "stream": "bench", "record": record}) + "\n")
            if i % 10_000 == 9_999:
                fh.write(json.dumps({"type": "STATE", "value": {"i": i}}) + "\n")


def dsn() -> str:
    if os.environ.get("GLUE_TEST_PG_DSN"):
        return os.environ["GLUE_TEST_PG_DSN"]
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "start-postgres.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    keys = "--keys" in sys.argv
    target = Path(sys.executable).parent / "target-postgres"
    server = dsn()
    schema = f"glue_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.jsonl"
        write_input(data, n, keys)
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"dsn": server, "schema": schema}))
        try:
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            with data.open("rb") as stdin:
                proc = subprocess.run(
                    [str(target), "--config", str(config)],
                    stdin=stdin,
                    capture_output=True,
                    check=False,
                )
            elapsed = time.perf_counter() - start
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                sys.exit(proc.stderr.decode()[-2000:])
            with psycopg.connect(server) as conn:
                count = conn.execute(f'SELECT count(*) FROM "{schema}".bench').fetchone()[0]
        finally:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if count != n:
        sys.exit(f"expected {n} rows, found {count}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    mode = "upsert" if keys else "append"
    print(
        f"target-postgres {mode}: {n} records in {elapsed:.2f} s wall = {n / elapsed:,.0f} "
        f"records/s (target CPU {cpu:.2f} s; startup included)"
    )


if __name__ == "__main__":
    main()
