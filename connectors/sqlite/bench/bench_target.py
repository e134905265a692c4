"""Throughput of target-sqlite: N records (default 100k) piped into the real console script.

    .venv/bin/python connectors/sqlite/bench/bench_target.py [N] [--keys]

Prints records/s for the whole process (startup, parsing, validation, upsert, commit), by wall
clock and by the process's CPU time (steadier on a shared machine). With
--keys the stream has a key property (upsert path); without, plain appends.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    keys = "--keys" in sys.argv
    target = Path(sys.executable).parent / "target-sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.jsonl"
        write_input(data, n, keys)
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"database": str(Path(tmp) / "bench.db")}))
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
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        if proc.returncode != 0:
            sys.exit(proc.stderr.decode()[-2000:])
        mode = "upsert" if keys else "append"
        print(
            f"target-sqlite {mode}: {n} records in {elapsed:.2f} s wall = {n / elapsed:,.0f} "
            f"records/s ({cpu:.2f} s CPU = {n / cpu:,.0f} records/s of CPU; startup included)"
        )


if __name__ == "__main__":
    main()
