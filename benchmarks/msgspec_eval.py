#!/usr/bin/env python3
"""Would msgspec make the per-stream record path faster? (issue 11's evaluation; records/s)

    .venv/bin/pip install msgspec    # benchmark only: not a dependency of glue_runtime
    .venv/bin/python benchmarks/msgspec_eval.py [--records 100000] [--repeat 5]

Input: the suite's orders RECORD lines (benchmarks/datagen.py). Each variant does what the
runner's field map + ETL does to one line: parse, keep the 9 selected fields (drop
customer_id, customer_email, tags, note), add line_total = quantity * unit_price, write the
line. Variants:

- ``orjson``: today's generic path: orjson.loads of the whole line, a copy of the record without
  the dropped fields, the computed field, orjson.dumps of the new message;
- ``orjson+check``: the same, with protocol.needs_exact on the line first (what the runner does);
- ``msgspec``: one Decoder per stream decoding the line straight into a Struct of the selected
  fields (unknown fields skipped, types checked while decoding), line_total set, encoded back;
- ``exact:...``: lines whose prices are 24-digit decimals: protocol.loads_line +
  protocol.dumps_exact against msgspec with ``float_hook=Decimal`` and
  ``decimal_format="number"``.

Timings are CPU time of this process, alternating, best of ``--repeat``; ratios are against
``orjson`` measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import exact_numbers  # noqa: E402

from glue_runtime import protocol  # noqa: E402

DROPPED = ("customer_id", "customer_email", "tags", "note")


def orjson_path(batch: list[bytes], check: bool) -> None:
    loads, dumps, nl, needs = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE, None
    if check:
        needs = protocol.needs_exact
    for line in batch:
        if needs is not None and needs(line):
            raise AssertionError("plain lines need no exact parse")
        msg = loads(line)
        rec = msg["record"]
        out = {k: v for k, v in rec.items() if k not in DROPPED}
        out["line_total"] = rec["quantity"] * rec["unit_price"]
        dumps({**msg, "record": out}, option=nl)


def exact_orjson_path(batch: list[bytes]) -> None:
    loads, dumps, nl = protocol.loads_line, protocol.dumps_exact, orjson.OPT_APPEND_NEWLINE
    for line in batch:
        msg = loads(line)
        rec = msg["record"]
        out = {k: v for k, v in rec.items() if k not in DROPPED}
        out["line_total"] = rec["quantity"] * rec["unit_price"]
        dumps({**msg, "record": out}, option=nl)


def record_types(msgspec: Any) -> tuple[Any, Any]:
    """The per-stream message types a plan would build once per SCHEMA: floats, Decimals."""

    # Built with defstruct, as a plan would build them from a SCHEMA at run time.
    address = msgspec.defstruct(
        "Address",
        [(k, str | None, None) for k in ("street", "city", "postal_code", "country")],
    )

    def record_type(number: type) -> Any:
        orders = msgspec.defstruct(
            "Orders",
            [
                ("id", int),
                ("updated_at", str),
                ("quantity", int | None, None),
                ("order_number", str | None, None),
                ("status", str | None, None),
                ("created_at", str | None, None),
                ("unit_price", number | None, None),
                ("total", number | None, None),
                ("shipping_address", address | None, None),
                ("line_total", number | None, None),
            ],
        )
        return msgspec.defstruct(
            "Message",
            [
                ("type", str),
                ("stream", str),
                ("record", orders),
                ("time_extracted", str | None, None),
            ],
        )

    return record_type(float), record_type(Decimal)


def msgspec_paths(msgspec: Any) -> tuple[Callable[[list[bytes]], None], Callable[..., None]]:
    """The two msgspec loops: plain lines, and lines with long decimals."""
    plain_type, exact_type = record_types(msgspec)

    def plain(batch: list[bytes]) -> None:
        decode = msgspec.json.Decoder(plain_type).decode
        encode = msgspec.json.Encoder().encode
        for line in batch:
            msg = decode(line)
            rec = msg.record
            rec.line_total = rec.quantity * rec.unit_price
            encode(msg)

    def exact(batch: list[bytes]) -> None:
        decode = msgspec.json.Decoder(exact_type, float_hook=Decimal).decode
        encode = msgspec.json.Encoder(decimal_format="number").encode
        for line in batch:
            msg = decode(line)
            rec = msg.record
            rec.line_total = rec.quantity * rec.unit_price
            encode(msg)

    return plain, exact


def best(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """CPU seconds of this process, GC off as timeit does; alternating, best of ``repeat``."""
    times = {k: float("inf") for k in fns}
    gc.disable()
    try:
        for _ in range(repeat):
            for name, fn in fns.items():
                start = time.process_time()
                fn()
                times[name] = min(times[name], time.process_time() - start)
    finally:
        gc.enable()
    return times


def same_output(msgspec: Any, plain: list[bytes], exact: list[bytes]) -> None:
    """The msgspec path writes the same message as today's path, exact numbers included.

    Compared as parsed values (key order may differ), exactly (Decimals where needed)."""
    plain_type, exact_type = record_types(msgspec)
    for lines, msg_type, hook, fmt in (
        (plain, plain_type, None, "string"),
        (exact, exact_type, Decimal, "number"),
    ):
        decode = msgspec.json.Decoder(msg_type, float_hook=hook).decode
        encode = msgspec.json.Encoder(decimal_format=fmt).encode
        for line in lines[:2000]:
            msg = decode(line)
            msg.record.line_total = msg.record.quantity * msg.record.unit_price
            ours = protocol.loads_line(line)
            rec = {k: v for k, v in ours["record"].items() if k not in DROPPED}
            rec["line_total"] = rec["quantity"] * rec["unit_price"]
            theirs = protocol.loads_line(encode(msg))
            if theirs != {**ours, "record": rec}:
                raise AssertionError(f"msgspec wrote {encode(msg)!r} for {line!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    try:
        import msgspec
    except ImportError:
        print("msgspec is not installed: `.venv/bin/pip install msgspec` (benchmark only)")
        return 0
    plain, exact = exact_numbers.lines(args.records)
    same_output(msgspec, plain, exact)
    ms_plain, ms_exact = msgspec_paths(msgspec)
    times = best(
        {
            "orjson": lambda: orjson_path(plain, check=False),
            "orjson+check": lambda: orjson_path(plain, check=True),
            "msgspec": lambda: ms_plain(plain),
            "exact:protocol": lambda: exact_orjson_path(exact),
            "exact:msgspec": lambda: ms_exact(exact),
        },
        args.repeat,
    )
    base = times["orjson"]
    print(f"msgspec {msgspec.__version__}, {len(plain):,} RECORD lines, best of {args.repeat}")
    print("| variant | records/s | time vs orjson |")
    print("|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {len(plain) / t:,.0f} | {t / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
