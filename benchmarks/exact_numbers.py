#!/usr/bin/env python3
"""What keeping numbers exact costs the runner's per-line parse and write (records/s).

    .venv/bin/python benchmarks/exact_numbers.py [--records 20000] [--repeat 7]

Input: the benchmark's orders stream (benchmarks/datagen.py, ~478 bytes a line). Two variants:
``plain``, as generated (no number a float cannot hold), and ``exact``, the same lines with
``unit_price`` and ``total`` written as 20+ digit decimals (every line takes the exact parse).
For each: the parse the runner did before (orjson.loads) against the one it does now
(needs_exact, then orjson or the exact parse), and the write of a rewritten message (orjson
against protocol.dump). Timings (CPU time) alternate and the best of ``--repeat`` is kept.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402

from glue_runtime import protocol  # noqa: E402

_PRICE = re.compile(rb'"(unit_price|total)":(\d+\.\d+)')


def _long(m: re.Match[bytes]) -> bytes:
    return b'"' + m.group(1) + b'":12345678901' + m.group(2) + b"000000001"


def lines(n: int) -> tuple[list[bytes], list[bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = datagen.generate(Path(tmp) / "orders.singer", n)
        plain = [
            line for line in path.read_bytes().splitlines(keepends=True) if b'"RECORD"' in line
        ]
    return plain, [_PRICE.sub(_long, line) for line in plain]


def old_parse(batch: list[bytes]) -> list[object]:
    loads = orjson.loads
    return [loads(line) for line in batch]


def new_parse(batch: list[bytes]) -> list[object]:
    loads, needs_exact, exact = orjson.loads, protocol.needs_exact, protocol.loads_line
    return [loads(line) if not needs_exact(line) else exact(line) for line in batch]


def old_write(msgs: list[object]) -> None:
    dumps, nl = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for m in msgs:
        dumps(m, option=nl)


def new_write(msgs: list[object]) -> None:
    dumps, nl, dump = orjson.dumps, orjson.OPT_APPEND_NEWLINE, protocol.dump
    for m in msgs:  # the runner's pump: orjson first, the exact dump when orjson refuses
        try:
            dumps(m, option=nl)
        except TypeError:
            dump(m)


def best(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """CPU seconds of this process (the machine may be shared), GC off as timeit does."""
    times = {k: float("inf") for k in fns}
    gc.disable()
    try:
        for _ in range(repeat):
            for k, fn in fns.items():
                t = time.process_time()
                fn()
                times[k] = min(times[k], time.process_time() - t)
    finally:
        gc.enable()
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    plain, exact = lines(args.records)
    assert not any(protocol.needs_exact(x) for x in plain)
    assert all(protocol.needs_exact(x) for x in exact)
    n = len(plain)
    fns: dict[str, Callable[[], object]] = {}
    for name, batch in (("plain", plain), ("exact", exact)):
        old_msgs, new_msgs = old_parse(batch), new_parse(batch)
        fns[f"{name} parse before"] = lambda b=batch: old_parse(b)
        fns[f"{name} parse now"] = lambda b=batch: new_parse(b)
        fns[f"{name} write before"] = lambda m=old_msgs: old_write(m)
        fns[f"{name} write now"] = lambda m=new_msgs: new_write(m)
    times = best(fns, args.repeat)
    print(f"{n:,} RECORD lines, best of {args.repeat}")
    print("| lines | step | before rec/s | now rec/s | now/before |")
    print("|---|---|---|---|---|")
    for name in ("plain", "exact"):
        for step in ("parse", "write"):
            b, a = times[f"{name} {step} before"], times[f"{name} {step} now"]
            print(f"| {name} | {step} | {n / b:,.0f} | {n / a:,.0f} | {b / a:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
