"""Numbers a float cannot hold reach the target exactly, whatever the stages do (issue 10).

A real tap process (tests/singer/replay_tap.py) replays a saved stream whose keys and values
are numbers a float cannot hold; tests/singer/exact_target.py keeps every byte it gets and
echoes STATE unchanged. Each run goes through a stage that rewrites records: a field map that
drops a field, an ETL script that does not touch the numbers, declarative maps, a batch ETL
script. Output is compared as values (Decimal / int), not as spellings.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import SINGER, run_cli, write_json

import glue_runtime

REPLAY_TAP = str(SINGER / "replay_tap.py")
EXACT_TARGET = str(SINGER / "exact_target.py")

# (key, amount) as the tap writes them: the four values, keys that collapse into one
# float, negative numbers, -0.0 and a plain float.
ROWS = [
    ("123456789012345678901234567890", "123456789012345678901234567890"),
    ("18446744073709551617", "18446744073709551617"),
    ("18446744073709551616", "-18446744073709551616"),
    ("12345678901234567890.1234567890", "12345678901234567890.1234567890"),
    ("1.000000000000000001", "1.000000000000000001"),
    ("1.000000000000000002", "-0.0"),
    ("7", "0.25"),
]
NESTED = '[1.5e-400, {"x": -1.5E-400, "y": [123456789012345678901234567890]}, 0.1]'
STATE = (
    '{"type": "STATE", "value": {"bookmarks": {"nums": {"replication_key_value": '
    '12345678901234567890.1234567890, "seq": 123456789012345678901234567890, '
    '"at": 0.10000000000000000000001}}}}'
)
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "number"},
        "amount": {"type": ["number", "null"]},
        "nested": {"type": ["array", "null"]},
        "note": {"type": ["string", "null"]},
    },
}
CATALOG = {
    "streams": [
        {
            "tap_stream_id": "nums",
            "stream": "nums",
            "schema": SCHEMA,
            "metadata": [
                {"breadcrumb": [], "metadata": {"table-key-properties": ["id"]}},
                *(
                    {"breadcrumb": ["properties", p], "metadata": {"inclusion": "available"}}
                    for p in SCHEMA["properties"]
                ),
            ],
        }
    ]
}


def exact(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def write_input(path: Path, nested: str = NESTED) -> Path:
    lines = [
        json.dumps({"type": "SCHEMA", "stream": "nums", "schema": SCHEMA, "key_properties": ["id"]})
    ]
    for key, amount in ROWS:
        lines.append(
            f'{{"type": "RECORD", "stream": "nums", "record": {{"id": {key}, "amount": {amount}, '
            f'"nested": {nested}, "note": "sent anyway"}}}}'
        )
    lines.append(STATE)
    path.write_text("\n".join(lines) + "\n")
    return path


def received(out: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """The records and STATE values the target got, numbers parsed exactly."""
    msgs = [exact(line) for line in out.read_text().splitlines() if line.strip()]
    records = [m["record"] for m in msgs if m["type"] == "RECORD"]
    states = [m["value"] for m in msgs if m["type"] == "STATE"]
    return records, states


def assert_exact(out: Path, state_file: Path, nested: str = NESTED) -> list[dict[str, Any]]:
    records, states = received(out)
    assert [r["id"] for r in records] == [exact(k) for k, _ in ROWS]
    assert len({str(r["id"]) for r in records}) == len(ROWS)  # no two keys collapsed
    assert [r["amount"] for r in records] == [exact(a) for _, a in ROWS]
    want_nested = exact(nested)
    for r in records:
        assert r["nested"] == want_nested
    want_state = exact(STATE)["value"]
    assert states == [want_state]
    assert exact(state_file.read_text()) == want_state  # committed with every digit
    return records


def run(tmp_path: Path, *extra: str, nested: str = NESTED):
    saved = write_input(tmp_path / "in.singer", nested)
    write_json(tmp_path / "tap.json", {"input": str(saved)})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    return run_cli(
        "run",
        "--tap",
        REPLAY_TAP,
        "--target",
        EXACT_TARGET,
        "--tap-config",
        "tap.json",
        "--target-config",
        "target.json",
        "--state-file",
        "state.json",
        *extra,
        cwd=tmp_path,
    )


def test_a_field_map_dropping_a_field_keeps_numbers_exact(tmp_path: Path):
    write_json(tmp_path / "catalog.json", CATALOG)
    (tmp_path / "fieldmap.yml").write_text("streams:\n  nums:\n    exclude: [note]\n")
    result = run(tmp_path, "--catalog", "catalog.json", "--field-map", "fieldmap.yml")
    assert result.code == 0, result.stderr
    records = assert_exact(tmp_path / "out.jsonl", tmp_path / "state.json")
    assert all("note" not in r for r in records)  # the record was rewritten


def test_an_exponent_too_big_for_a_float_passes_exactly_through_a_field_map(tmp_path: Path):
    """1E+400 is valid JSON that orjson refuses (infinity): the line takes the exact parse."""
    schema = json.dumps({"type": "SCHEMA", "stream": "nums", "schema": SCHEMA})
    lines = [
        schema,
        '{"type": "RECORD", "stream": "nums", "record": {"id": 1, "amount": 1E+400, "note": "x"}}',
        '{"type": "RECORD", "stream": "nums", "record": {"id": 2, "amount": -2.5e+999}}',
        '{"type": "STATE", "value": {"bookmarks": {"nums": {"v": 1e400}}}}',
    ]
    (tmp_path / "in.singer").write_text("\n".join(lines) + "\n")
    write_json(tmp_path / "tap.json", {"input": str(tmp_path / "in.singer")})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    write_json(tmp_path / "catalog.json", CATALOG)
    (tmp_path / "fieldmap.yml").write_text("streams:\n  nums:\n    exclude: [note]\n")
    result = run_cli(
        "run",
        *("--tap", REPLAY_TAP, "--target", EXACT_TARGET, "--tap-config", "tap.json"),
        *("--target-config", "target.json", "--state-file", "state.json"),
        *("--catalog", "catalog.json", "--field-map", "fieldmap.yml"),
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    records, states = received(tmp_path / "out.jsonl")
    assert records == [
        {"id": 1, "amount": Decimal("1E+400")},
        {"id": 2, "amount": Decimal("-2.5E+999")},
    ]
    assert states == [{"bookmarks": {"nums": {"v": Decimal("1E+400")}}}]
    assert exact((tmp_path / "state.json").read_text()) == states[0]


ETL_SCRIPT = """
from decimal import Decimal
from pathlib import Path

SEEN = Path(__file__).parent / "seen.txt"


def transform(record, ctx):
    with SEEN.open("a") as fh:
        fh.write(f"{type(record['id']).__name__} {type(record['amount']).__name__}\\n")
    return {k: v for k, v in record.items() if k != "note"}
"""


def test_an_etl_script_that_does_not_touch_the_numbers_keeps_them_exact(tmp_path: Path):
    (tmp_path / "etl.py").write_text(ETL_SCRIPT)
    result = run(tmp_path, "--etl", "etl.py")
    assert result.code == 0, result.stderr
    assert_exact(tmp_path / "out.jsonl", tmp_path / "state.json")
    # What the script saw: int for integers, float where the text round-trips, else Decimal.
    assert (tmp_path / "seen.txt").read_text().splitlines() == [
        "int int",
        "int int",
        "int int",
        "Decimal Decimal",
        "Decimal Decimal",
        "Decimal float",
        "int float",
    ]


def test_declarative_maps_keep_numbers_exact(tmp_path: Path):
    (tmp_path / "maps.yml").write_text(
        "stream_maps:\n"
        "  nums:\n"
        "    note: null\n"
        '    amount_text: {expr: "str(amount)", type: string}\n'
        '    amount_twice: {expr: "amount * 2", type: number}\n'
        '    nested_json: {expr: "json.dumps(nested)", type: string}\n'
    )
    result = run(tmp_path, "--etl", "maps.yml")
    assert result.code == 0, result.stderr
    records = assert_exact(tmp_path / "out.jsonl", tmp_path / "state.json")
    for r, (_, amount) in zip(records, ROWS, strict=True):
        assert "note" not in r
        assert Decimal(r["amount_text"]) == Decimal(amount)  # the expression saw every digit
        assert r["amount_twice"] == exact(amount) * 2
        assert exact(r["nested_json"]) == exact(NESTED)  # json.dumps writes Decimals exactly


BATCH_SCRIPT = """
from glue_runtime.batch.helpers import BatchJob

job = BatchJob.from_env()
with job.writer() as out:
    for stream in job.streams():
        out.schema(stream, job.schema(stream), job.key_properties(stream))
        for record in job.read(stream):
            out.record(stream, {k: v for k, v in record.items() if k != "note"})
"""


def test_batch_etl_keeps_numbers_exact(tmp_path: Path):
    write_input(tmp_path / "in.singer")
    (tmp_path / "batch_etl.py").write_text(BATCH_SCRIPT)
    (tmp_path / "flow.yml").write_text(
        "name: nums\n"
        f"source: {{connector: {REPLAY_TAP}, config: {{input: in.singer}}}}\n"
        "etl: {script: batch_etl.py, mode: batch}\n"
        f"targets: [{{connector: {EXACT_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )
    result = run_cli("run", "flow.yml", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert_exact(tmp_path / "out.jsonl", tmp_path / ".glue/state/nums.json")


@pytest.mark.parametrize("etl", ["script", "maps"])
def test_run_api_keeps_numbers_exact(tmp_path: Path, etl: str):
    if etl == "script":
        (tmp_path / "stage.py").write_text(ETL_SCRIPT)
    else:
        (tmp_path / "stage.yml").write_text("stream_maps:\n  nums:\n    note: null\n")
    result = glue_runtime.run(
        REPLAY_TAP,
        EXACT_TARGET,
        tap_config={"input": str(write_input(tmp_path / "in.singer"))},
        target_config={"output": str(tmp_path / "out.jsonl")},
        state_file=tmp_path / "state.json",
        etl=tmp_path / ("stage.py" if etl == "script" else "stage.yml"),
        cwd=tmp_path,
    )
    assert result.ok, result.error
    assert_exact(tmp_path / "out.jsonl", tmp_path / "state.json")


def test_state_with_long_decimals_is_committed_exactly_without_stages(tmp_path: Path):
    result = run(tmp_path)
    assert result.code == 0, result.stderr
    assert_exact(tmp_path / "out.jsonl", tmp_path / "state.json")


def test_state_set_and_show_keep_every_digit(tmp_path: Path):
    value = (
        '{"bookmarks": {"nums": {"v": 12345678901234567890.1234567890, "n": 18446744073709551617}}}'
    )
    done = run_cli("state", "set", "--state-file", "s.json", "--value", value, cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert exact((tmp_path / "s.json").read_text()) == exact(value)
    shown = run_cli("state", "show", "--state-file", "s.json", cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    assert exact(shown.stdout) == exact(value)


def test_catalogs_keep_schema_numbers_exact(tmp_path: Path):
    from glue_runtime.catalog import dump_catalog, load_catalog

    schema = dict(SCHEMA, properties={"n": {"type": "number", "maximum": "MAX"}})
    text = json.dumps({"streams": [dict(CATALOG["streams"][0], schema=schema)]})
    text = text.replace('"MAX"', "99999999999999999999.99999")
    (tmp_path / "catalog.json").write_text(text)
    again = exact(dump_catalog(load_catalog(tmp_path / "catalog.json")).decode())
    assert again["streams"][0]["schema"]["properties"]["n"]["maximum"] == Decimal(
        "99999999999999999999.99999"
    )


def test_validation_takes_decimals_as_numbers_and_big_ints_as_integers():
    from glue_runtime.errors import TransformError
    from glue_runtime.etl import script_from_functions
    from glue_runtime.stages.transform import make_transform

    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "x": {"type": ["number", "null"]}},
    }
    msgs = [
        {"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "s", "record": {"id": 2**70, "x": None}},
    ]

    def built(value: Any) -> Any:
        return script_from_functions(transform=lambda r, ctx: {"id": r["id"], "x": value})

    for good in (Decimal("1.000000000000000001"), Decimal("1E+400"), 2**90, 1.5):
        out = list(make_transform(built(good), guard="deep")(iter(msgs)))
        assert out[1]["record"] == {"id": 2**70, "x": good}
    bad = script_from_functions(transform=lambda r, ctx: {"id": Decimal("1.5"), "x": None})
    with pytest.raises(TransformError, match="'id' is number"):
        list(make_transform(bad)(iter(msgs)))


def test_config_files_keep_numbers_exact(tmp_path: Path):
    from glue_runtime.flow import read_json_file

    (tmp_path / "tap.json").write_text('{"start": 12345678901234567890.1234567890, "n": 2e-400}')
    config = read_json_file(tmp_path / "tap.json", "tap config")
    assert config == {"start": Decimal("12345678901234567890.1234567890"), "n": Decimal("2e-400")}
