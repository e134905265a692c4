"""Throughput of the transform stage (records/s), against a plain loop and orjson per line.

    .venv/bin/python benchmarks/transform_stage.py [--records 100000] [--repeat 3]

Input: N RECORD messages of 12 fields (a nested object and an array among them), already
parsed (the runner parses once; the stage sees dicts). Cases:

- baseline: a generator that yields every message unchanged (the cost of one more stage);
- orjson: loads + dumps of every line (what one extra process hop costs, for scale);
- script identity: ``transform`` returns the record as is;
- script drop4+compute: drop 4 fields and add one computed field, in Python;
- maps drop4+compute: the same as a declarative map (typed computed field);
- the two "+ validate off" rows show what output validation costs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from glue_runtime.etl import script_from_functions
from glue_runtime.stages.transform import make_transform

S = {"type": ["string", "null"]}
SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "customer": S,
            "email": S,
            "status": S,
            "price": {"type": ["number", "null"]},
            "qty": {"type": ["integer", "null"]},
            "paid": {"type": ["boolean", "null"]},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "note": S,
            "channel": S,
            "address": {
                "type": ["object", "null"],
                "properties": {"city": S, "zip": S, "country": S},
            },
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    },
}
DROP = ("note", "channel", "email", "status")


def make_messages(n: int) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [SCHEMA]
    for i in range(n):
        msgs.append(
            {
                "type": "RECORD",
                "stream": "orders",
                "record": {
                    "id": i,
                    "customer": f"c{i % 997}",
                    "email": f"u{i}@example.org",
                    "status": "paid",
                    "price": 9.99 + i % 7,
                    "qty": 1 + i % 5,
                    "paid": i % 2 == 0,
                    "created_at": "2024-05-01T10:00:00Z",
                    "note": None,
                    "channel": "web",
                    "address": {"city": "Utrecht", "zip": "3511", "country": "NL"},
                    "tags": ["a", "b"],
                },
            }
        )
        if i % 10000 == 9999:
            msgs.append({"type": "STATE", "value": {"bookmarks": {"orders": {"id": i}}}})
    return msgs


def identity(record: Any, ctx: Any) -> Any:
    return record


def drop_and_compute(record: Any, ctx: Any) -> Any:
    out = {k: v for k, v in record.items() if k not in DROP}
    out["total"] = record["price"] * record["qty"]
    return out


def drop_and_compute_schema(stream: str, schema: dict, ctx: Any) -> dict:
    return ctx.reshape(drop=DROP, add={"total": {"type": ["number", "null"]}})


MAPS = {
    "stream_maps": {
        "orders": {
            **dict.fromkeys(DROP),
            "total": {"expr": "price * qty", "type": "number"},
        }
    }
}


def baseline(messages: Iterator[dict]) -> Iterator[dict]:
    yield from messages


def time_stage(stage: Callable[[Iterator[dict]], Iterator[dict]], msgs: list[dict]) -> float:
    t0 = time.perf_counter()
    for _ in stage(iter(msgs)):
        pass
    return time.perf_counter() - t0


def time_orjson(lines: list[bytes]) -> float:
    loads, dumps = orjson.loads, orjson.dumps
    t0 = time.perf_counter()
    for line in lines:
        dumps(loads(line))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    msgs = make_messages(args.records)
    lines = [orjson.dumps(m) for m in msgs]
    script_dc = script_from_functions(transform=drop_and_compute, schema=drop_and_compute_schema)
    cases: list[tuple[str, Callable[[], float]]] = [
        ("baseline pass-through loop", lambda: time_stage(baseline, msgs)),
        ("orjson loads+dumps per line", lambda: time_orjson(lines)),
        (
            "script identity",
            lambda: time_stage(make_transform(script_from_functions(transform=identity)), msgs),
        ),
        ("script drop4+compute", lambda: time_stage(make_transform(script_dc), msgs)),
        (
            "script drop4+compute, validate off",
            lambda: time_stage(make_transform(script_dc, validate="off"), msgs),
        ),
        ("maps drop4+compute", lambda: time_stage(make_transform(MAPS), msgs)),
        (
            "maps drop4+compute, validate off",
            lambda: time_stage(make_transform(MAPS, validate="off"), msgs),
        ),
    ]
    n = args.records
    print(f"{n:,} records of 12 fields, best of {args.repeat}")
    print(f"{'case':40} {'records/s':>12} {'us/record':>10}")
    for name, fn in cases:
        best = min(fn() for _ in range(args.repeat))
        print(f"{name:40} {n / best:12,.0f} {best / n * 1e6:10.2f}")


if __name__ == "__main__":
    main()
