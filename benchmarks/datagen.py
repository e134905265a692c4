"""The benchmark's data set: a deterministic 13-field "orders" Singer stream.

Shape (docs/performance.md and the peers' reference measurements): 3 integers, 5 strings (one an
enum, two ISO date-times with microseconds), 2 two-decimal numbers, a nullable nested object, an
array of strings and a nullable string; ``time_extracted`` on every RECORD; a STATE every 10,000
records and one at the end; about 478 bytes a line. Same seed, same bytes, on every machine.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

STREAM = "orders"
STATE_EVERY = 10_000
SEED = 20261128
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Lyon", "Paris", "Madrid", "Valencia", "Oslo")
COUNTRIES = ("PT", "DE", "FR", "ES", "NO")
STREETS = ("Rua Augusta", "Hauptstrasse", "Rue de la Paix", "Calle Mayor", "Karl Johans gate")
TAGS = ("gift", "express", "b2b", "fragile", "promo", "repeat", "vip", "bulk", "eco")
WORDS = ("please", "leave", "at", "door", "call", "before", "delivery", "no", "signature", "side")

# The drop + computed field every "field map" contender applies (case 2, 3, 4).
DROPPED_FIELDS = ("customer_id", "customer_email", "tags", "note")
COMPUTED_FIELD = "line_total"  # quantity * unit_price, a number

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "customer_id": {"type": "integer"},
        "quantity": {"type": "integer"},
        "order_number": {"type": "string"},
        "customer_email": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "unit_price": {"type": "number"},
        "total": {"type": "number"},
        "shipping_address": {
            "type": ["object", "null"],
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "postal_code": {"type": "string"},
                "country": {"type": "string"},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": ["string", "null"]},
    },
    "required": ["id", "updated_at"],
}


def schema_message() -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": STREAM,
        "schema": SCHEMA,
        "key_properties": ["id"],
        "bookmark_properties": ["updated_at"],
    }


def _state(updated_at: str) -> bytes:
    bookmark = {"replication_key": "updated_at", "replication_key_value": updated_at}
    value = {"bookmarks": {STREAM: bookmark}}
    return orjson.dumps({"type": "STATE", "value": value}, option=orjson.OPT_APPEND_NEWLINE)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate(path: Path, n_records: int, *, seed: int = SEED) -> Path:
    """Write ``n_records`` orders to ``path`` (atomically); same seed -> same bytes."""
    rnd = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    extracted = _iso(datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC))
    tmp = path.with_suffix(".tmp")
    dumps = orjson.dumps
    nl = orjson.OPT_APPEND_NEWLINE
    with open(tmp, "wb", buffering=1 << 20) as out:
        out.write(dumps(schema_message(), option=nl))
        updated = _iso(base)
        batch: list[bytes] = []
        for i in range(1, n_records + 1):
            created_ts = base + timedelta(seconds=i * 7, microseconds=rnd.randrange(1_000_000))
            updated_ts = created_ts + timedelta(minutes=rnd.randrange(1, 5000))
            updated = _iso(updated_ts)
            qty = rnd.randrange(1, 20)
            price_cents = rnd.randrange(199, 99_999)
            address = None
            if rnd.random() < 0.85:
                address = {
                    "street": f"{rnd.choice(STREETS)} {rnd.randrange(1, 400)}",
                    "city": rnd.choice(CITIES),
                    "postal_code": f"{rnd.randrange(10000, 99999)}",
                    "country": rnd.choice(COUNTRIES),
                }
            note = None
            if rnd.random() < 0.3:
                note = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 9)))
            record = {
                "id": i,
                "customer_id": rnd.randrange(1, 250_000),
                "quantity": qty,
                "order_number": f"SO{i:08d}{rnd.randrange(16**4):04X}",
                "customer_email": f"customer{rnd.randrange(1, 250_000)}@example.com",
                "status": rnd.choice(STATUSES),
                "created_at": _iso(created_ts),
                "updated_at": updated,
                "unit_price": price_cents / 100,
                "total": qty * price_cents / 100,
                "shipping_address": address,
                "tags": rnd.sample(TAGS, rnd.randrange(0, 4)),
                "note": note,
            }
            msg = {"type": "RECORD", "stream": STREAM, "record": record}
            msg["time_extracted"] = extracted
            batch.append(dumps(msg, option=nl))
            if i % STATE_EVERY == 0:
                batch.append(_state(updated))
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
        if n_records % STATE_EVERY:
            out.write(_state(updated))
    os.replace(tmp, path)
    return path


def dataset(cache_dir: Path, n_records: int) -> Path:
    """The cached data file for ``n_records`` (generated on first use)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"orders-{n_records}-seed{SEED}.singer"
    if not path.exists():
        generate(path, n_records)
    return path


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    p = dataset(Path(__file__).parent / ".cache", n)
    size = p.stat().st_size
    print(f"{p}: {size:,} bytes, {size / n:.0f} bytes a record")
