"""Helpers for batch ETL scripts: read the landed tap output, write Singer, keep snapshots.

```python
from glue_runtime.batch.helpers import BatchJob

job = BatchJob.from_env()               # the folders and ids glue_runtime gave the script
with job.writer() as out:               # writes $ETL_OUTPUT/data.singer
    for stream in job.streams():
        schema, keys = job.schema(stream), job.key_properties(stream)
        out.schema(stream, schema, keys)
        snap = job.snapshot(stream, keys)   # what earlier successful jobs already sent
        for record in snap.changed(job.read(stream)):
            out.record(stream, record)
        snap.save()
```
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson

from glue_runtime.protocol import dumps_exact, loads_exact, loads_line


def _clean(value: Any) -> Any:
    """Make a value JSON-safe the way hotglue cleans ETL output: no NaN/Infinity, ISO dates;
    Decimals stay (written unquoted with all their digits)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):  # written as its digits: only NaN / Infinity go
        return value if value.is_finite() else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class SingerWriter:
    """Writes SCHEMA and RECORD lines to a data.singer file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._schemas: set[str] = set()

    def schema(
        self, stream: str, schema: dict[str, Any], key_properties: Iterable[str] = ()
    ) -> None:
        msg = {
            "type": "SCHEMA",
            "stream": stream,
            "schema": schema,
            "key_properties": list(key_properties),
        }
        self._fh.write(dumps_exact(msg, orjson.OPT_APPEND_NEWLINE))
        self._schemas.add(stream)

    def record(self, stream: str, record: dict[str, Any]) -> None:
        if stream not in self._schemas:
            raise ValueError(f"write a SCHEMA for stream {stream!r} before its records")
        msg = {"type": "RECORD", "stream": stream, "record": _clean(record)}
        self._fh.write(dumps_exact(msg, orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> SingerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Snapshot:
    """What earlier successful jobs sent for one stream, to drop records that did not change.

    Kept as ``<SNAPSHOT_DIR>/<stream>.snapshot.json``: key -> hash of the record. glue_runtime keeps
    the job's snapshots only when the whole job succeeds, so a failed load is sent again.
    """

    def __init__(self, folder: Path, stream: str, key_properties: Iterable[str]) -> None:
        self.path = folder / f"{stream}.snapshot.json"
        self.keys = list(key_properties)
        if not self.keys:
            raise ValueError(f"stream {stream!r} has no key properties: snapshots need a key")
        self.seen: dict[str, str] = (
            orjson.loads(self.path.read_bytes()) if self.path.exists() else {}
        )

    def _key(self, record: dict[str, Any]) -> str:
        return "\x1f".join(str(record.get(k)) for k in self.keys)

    def changed(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield only new or changed records, remembering them."""
        for record in records:
            digest = hashlib.sha256(dumps_exact(_clean(record), orjson.OPT_SORT_KEYS))
            h = digest.hexdigest()[:32]
            key = self._key(record)
            if self.seen.get(key) != h:
                self.seen[key] = h
                yield record

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(orjson.dumps(self.seen))


@dataclass
class BatchJob:
    """The environment of one batch ETL run."""

    flow: str
    tenant: str
    job_id: str
    connector_id: str
    root: Path
    sync_output: Path
    etl_output: Path
    snapshot_dir: Path

    @classmethod
    def from_env(cls) -> BatchJob:
        env = os.environ
        root = Path(env.get("ROOT_DIR", "."))
        return cls(
            flow=env.get("FLOW", "flow"),
            tenant=env.get("TENANT", "default"),
            job_id=env.get("JOB_ID", "local"),
            connector_id=env.get("CONNECTOR_ID", ""),
            root=root,
            sync_output=Path(env.get("SYNC_OUTPUT", root / "sync-output")),
            etl_output=Path(env.get("ETL_OUTPUT", root / "etl-output")),
            snapshot_dir=Path(env.get("SNAPSHOT_DIR", root / "snapshots")),
        )

    def _schemas(self) -> dict[str, Any]:
        return loads_exact((self.sync_output / "_schemas.json").read_bytes())

    def streams(self) -> list[str]:
        return list(self._schemas())

    def schema(self, stream: str) -> dict[str, Any]:
        return self._schemas()[stream]["schema"]

    def key_properties(self, stream: str) -> list[str]:
        return self._schemas()[stream]["key_properties"]

    def read(self, stream: str) -> Iterator[dict[str, Any]]:
        """The landed records of a stream (CSV values come back as strings)."""
        jsonl = self.sync_output / f"{stream}.jsonl"
        if jsonl.exists():
            with open(jsonl, "rb") as fh:
                for line in fh:
                    yield loads_line(line)  # numbers exact: int, float, or Decimal
            return
        with open(self.sync_output / f"{stream}.csv", newline="") as fh:
            yield from csv.DictReader(fh)

    def writer(self) -> SingerWriter:
        return SingerWriter(self.etl_output / "data.singer")

    def snapshot(self, stream: str, key_properties: Iterable[str] | None = None) -> Snapshot:
        keys = key_properties if key_properties is not None else self.key_properties(stream)
        return Snapshot(self.snapshot_dir, stream, keys)
