"""What the target writes, the tap reads back: values, types, keys; also as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROPS = {
    "id": {"type": "integer"},
    "name": {"type": ["string", "null"]},
    "price": {"type": ["number", "null"]},
    "ok": {"type": ["boolean", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
    "meta": {"type": ["object", "null"], "properties": {"k": {"type": "integer"}}},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
}
RECORDS = [
    {
        "id": 1,
        "name": 'ünïcode "quoted" \n line',
        "price": 12.25,
        "ok": True,
        "at": "2024-05-01T10:00:00+00:00",
        "day": "2024-05-01",
        "meta": {"k": 1, "nested": {"deep": [1, 2]}},
        "tags": ["a", "b"],
    },
    {
        "id": 2,
        "name": None,
        "price": None,
        "ok": False,
        "at": None,
        "day": None,
        "meta": None,
        "tags": [],
    },
]


def test_types_round_trip(db, run_target, run_tap, h):
    run_target(
        {"database": str(db)},
        [h.schema("things", PROPS, ["id"]), *(h.record("things", r) for r in RECORDS)],
    )
    messages = run_tap({"database": str(db)})
    schema = next(m for m in messages if m["type"] == "SCHEMA")
    assert schema["key_properties"] == ["id"]
    props = schema["schema"]["properties"]
    assert props["at"]["format"] == "date-time"
    assert props["day"]["format"] == "date"
    assert {k: v["type"][0] for k, v in props.items()} == {
        k: v["type"] if isinstance(v["type"], str) else v["type"][0] for k, v in PROPS.items()
    }
    assert [m["record"] for m in messages if m["type"] == "RECORD"] == RECORDS


def _script(name: str) -> str:
    """The console script installed next to this interpreter."""
    return str(Path(sys.executable).parent / name)


def test_tap_pipe_target_as_subprocesses(tmp_path, db, run_target, h):
    """tap-sqlite | target-sqlite, real processes: the copy has the rows; the target prints
    the tap's final state only once the rows are committed."""
    run_target(
        {"database": str(db)},
        [h.schema("things", PROPS, ["id"]), *(h.record("things", r) for r in RECORDS)],
    )
    copy = tmp_path / "copy.db"
    tap_cfg = tmp_path / "tap.json"
    tap_cfg.write_text(
        json.dumps({"database": str(db), "tables": [{"name": "things", "replication_key": "id"}]})
    )
    target_cfg = tmp_path / "target.json"
    target_cfg.write_text(json.dumps({"database": str(copy), "table_prefix": "copy_"}))

    tap = subprocess.Popen(
        [_script("tap-sqlite"), "--config", str(tap_cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    target = subprocess.run(
        [_script("target-sqlite"), "--config", str(target_cfg)],
        stdin=tap.stdout,
        capture_output=True,
        timeout=60,
        check=False,
    )
    tap.stdout.close()
    tap_err = tap.stderr.read().decode()
    tap.stderr.close()
    assert tap.wait(timeout=60) == 0, tap_err
    assert target.returncode == 0, target.stderr.decode()

    states = [json.loads(line) for line in target.stdout.decode().splitlines()]
    assert states[-1]["bookmarks"]["things"]["replication_key_value"] == 2
    assert h.rows(copy, "SELECT id, name, ok FROM copy_things ORDER BY id") == [
        (1, RECORDS[0]["name"], 1),
        (2, None, 0),
    ]


def test_target_reads_input_file_and_fails_with_nonzero_exit(tmp_path, db, h):
    """A bad record ends the process with a non-zero code and no state on stdout."""
    lines = [
        h.schema("s", {"id": {"type": "integer"}}, ["id"]),
        h.record("s", {"id": 1}),
        {"type": "STATE", "value": {"x": 1}},
        h.record("s", {"id": "oops"}),
    ]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(m) + "\n" for m in lines))
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"database": str(db)}))
    proc = subprocess.run(
        [_script("target-sqlite"), "--config", str(cfg), "--input", str(data)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stdout == b""
    assert b"stream 's': record.id must be integer" in proc.stderr
