"""Throughput of target-files (JSON lines, record validation on) against target-jsonl.

    .venv/bin/python connectors/files/bench/bench_target.py [--records 100000] [--peer PATH]

The input is a deterministic Singer stream of a 12-field record (4 integers/numbers, 4 strings,
2 ISO date-times, a nested object and an array of strings), a STATE every 10,000 records. Each
target runs as a real subprocess reading the file on stdin; the best of --repeats wall times is
reported as records/s. The peer defaults to the benchmark suite's cached target-jsonl venv.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PEER = ROOT / "benchmarks/.cache/venvs/target-jsonl/bin/target-jsonl"
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "customer_id": {"type": "integer"},
        "order_number": {"type": "string"},
        "email": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "paid", "shipped", "cancelled"]},
        "quantity": {"type": "integer"},
        "unit_price": {"type": "number"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "shipping_address": {
            "type": ["object", "null"],
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "postal_code": {"type": "string"},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": ["string", "null"]},
    },
    "required": ["id", "updated_at"],
}


def generate(path: Path, n: int) -> None:
    rnd = random.Random(12)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    nl = orjson.OPT_APPEND_NEWLINE
    with open(path, "wb") as out:
        msg = {"type": "SCHEMA", "stream": "orders", "schema": SCHEMA, "key_properties": ["id"]}
        out.write(orjson.dumps(msg, option=nl))
        for i in range(1, n + 1):
            created = base + timedelta(seconds=i * 7)
            rec = {
                "id": i,
                "customer_id": rnd.randrange(1, 50_000),
                "order_number": f"SO{i:08d}",
                "email": f"customer{rnd.randrange(1, 50_000)}@example.com",
                "status": rnd.choice(["pending", "paid", "shipped", "cancelled"]),
                "quantity": rnd.randrange(1, 20),
                "unit_price": rnd.randrange(199, 99_999) / 100,
                "created_at": created.isoformat(),
                "updated_at": (created + timedelta(minutes=rnd.randrange(1, 999))).isoformat(),
                "shipping_address": {
                    "street": f"Main Street {rnd.randrange(1, 400)}",
                    "city": rnd.choice(["Lisbon", "Berlin", "Paris"]),
                    "postal_code": str(rnd.randrange(10000, 99999)),
                },
                "tags": rnd.sample(["gift", "express", "b2b", "promo"], rnd.randrange(0, 3)),
                "note": None if i % 3 else "leave at door",
            }
            msg = {"type": "RECORD", "stream": "orders", "record": rec}
            out.write(orjson.dumps(msg, option=nl))
            if i % 10_000 == 0 or i == n:
                state = {"type": "STATE", "value": {"bookmarks": {"orders": {"id": i}}}}
                out.write(orjson.dumps(state, option=nl))


def run(cmd: list[str], data: Path, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        with open(data, "rb") as stdin:
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdin=stdin, capture_output=True)
            elapsed = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(f"{cmd[0]} failed:\n{proc.stderr.decode()[-2000:]}")
        best = min(best, elapsed)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer", type=Path, default=DEFAULT_PEER, help="target-jsonl executable")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-target-files-"))
    data = tmp / "input.singer"
    generate(data, args.records)
    ours_cfg = tmp / "files.json"
    ours_cfg.write_text(json.dumps({"output_dir": str(tmp / "files"), "validate_records": True}))
    ours = [str(Path(sys.executable).parent / "target-files"), "--config", str(ours_cfg)]
    t = run(ours, data, args.repeats)
    print(f"target-files (jsonl, validation on): {args.records / t:,.0f} records/s ({t:.2f} s)")
    if args.peer.exists():
        peer_cfg = tmp / "jsonl.json"
        (tmp / "jsonl").mkdir()
        peer_cfg.write_text(json.dumps({"destination_path": str(tmp / "jsonl")}))
        tp = run([str(args.peer), "--config", str(peer_cfg)], data, max(1, args.repeats - 2))
        rate = args.records / tp
        print(f"target-jsonl 0.1.4 (validation on): {rate:,.0f} records/s ({tp:.2f} s)")
        print(f"speed-up: {tp / t:.1f}x")
    else:
        print(f"(peer {args.peer} not found; run benchmarks/peers.py target-jsonl to install it)")


if __name__ == "__main__":
    main()
