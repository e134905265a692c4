"""The landing target: writes a tap's selected output per stream into a job's ``sync-output/``.

Run by batch ETL jobs as ``python -m glue_runtime.landing --config CONFIG`` (a real Singer
target process). Config: ``output_dir``, ``format`` (``jsonl`` or ``csv``). It writes
``<stream>.jsonl`` (or ``.csv``, nested values as JSON), ``_schemas.json`` (stream -> schema and
key properties) and ``_state.json`` (the tap's last STATE). It confirms no STATE: a batch job
commits bookmarks only after its targets have loaded the ETL output.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import IO, Any

import orjson


def _csv_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


def land(lines: IO[bytes], output_dir: Path, fmt: str = "jsonl") -> dict[str, int]:
    output_dir.mkdir(parents=True, exist_ok=True)
    schemas: dict[str, Any] = {}
    files: dict[str, IO[Any]] = {}
    writers: dict[str, Any] = {}
    counts: dict[str, int] = {}
    state: Any = None
    try:
        for line in lines:
            if line.isspace():
                continue
            msg = orjson.loads(line)
            mtype = msg.get("type")
            if mtype == "SCHEMA":
                stream = msg["stream"]
                schemas[stream] = {
                    "schema": msg["schema"],
                    "key_properties": msg.get("key_properties") or [],
                }
                if stream not in files:
                    suffix = "csv" if fmt == "csv" else "jsonl"
                    path = output_dir / f"{stream}.{suffix}"
                    if fmt == "csv":
                        fh = open(path, "w", newline="")  # noqa: SIM115 (closed below)
                        fields = list((msg["schema"].get("properties") or {}).keys())
                        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
                        writer.writeheader()
                        writers[stream] = writer
                    else:
                        fh = open(path, "wb")  # noqa: SIM115 (closed below)
                    files[stream] = fh
                    counts[stream] = 0
            elif mtype == "RECORD":
                stream = msg["stream"]
                if stream not in files:
                    raise SystemExit(f"landing: RECORD for stream {stream!r} before its SCHEMA")
                if fmt == "csv":
                    writers[stream].writerow({k: _csv_value(v) for k, v in msg["record"].items()})
                else:
                    files[stream].write(
                        orjson.dumps(msg["record"], option=orjson.OPT_APPEND_NEWLINE)
                    )
                counts[stream] += 1
            elif mtype == "STATE":
                state = msg["value"]
    finally:
        for fh in files.values():
            fh.close()
    (output_dir / "_schemas.json").write_bytes(orjson.dumps(schemas, option=orjson.OPT_INDENT_2))
    (output_dir / "_state.json").write_bytes(orjson.dumps(state))
    return counts


def main(argv: list[str]) -> int:
    if "--about" in argv:
        return 2
    config = orjson.loads(Path(argv[argv.index("--config") + 1]).read_bytes())
    land(sys.stdin.buffer, Path(config["output_dir"]), config.get("format", "jsonl"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
