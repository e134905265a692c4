"""tap-postgres against a real server: singer-sdk's standard tap suite, full table and
incremental reads, and a target -> tap round trip of every mapped type."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from glue_postgres.tap import TapPostgres
from singer_sdk.testing import get_tap_test_class

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[3]


def _dsn() -> str:
    """Like the pg_dsn fixture, but usable at import: the standard suite discovers the tap's
    streams when the test class is built."""
    if not os.environ.get("GLUE_TEST_PG_DSN"):
        out = subprocess.run(
            ["bash", str(REPO / "scripts" / "start-postgres.sh")],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        os.environ["GLUE_TEST_PG_DSN"] = out.stdout.strip().splitlines()[-1]
    return os.environ["GLUE_TEST_PG_DSN"]


DSN = _dsn()
# The creating process's id is in the name, so a later run can drop schemas whose creator is
# gone without dropping its own (pytest-xdist workers end without running atexit handlers).
SOURCE = f"glue_tap_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _drop_orphans() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname ~ '^glue_tap_[0-9]+_[0-9a-f]+$'"
        ).fetchall()
        for (name,) in names:
            pid = int(name.split("_")[2])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            except PermissionError:
                pass  # alive, someone else's


def _make_source() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SOURCE,)).fetchone():
            return
        conn.execute(f'CREATE SCHEMA "{SOURCE}"')
        conn.execute(
            f"""
            CREATE TABLE "{SOURCE}".people (
                id bigint PRIMARY KEY, name text NOT NULL, active boolean, score numeric,
                born date, updated_at timestamptz, meta jsonb, tags jsonb, ref uuid);
            INSERT INTO "{SOURCE}".people VALUES
                (1, 'ann', true, 1.5, '1990-01-01', '2024-01-01T00:00:00Z', '{{"a": 1}}',
                 '["x"]', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
                (2, 'bob', false, NULL, NULL, '2024-01-02T00:00:00Z', NULL, '[]', NULL);
            CREATE TABLE "{SOURCE}".notes (body text, n integer);
            INSERT INTO "{SOURCE}".notes VALUES ('hello', 1), ('world', 2);
            """
        )


def _drop_source() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SOURCE}" CASCADE')


_drop_orphans()
_make_source()
atexit.register(_drop_source)


@pytest.fixture(scope="module", autouse=True)
def _source_schema():
    """Dropped after the module's tests; made again if pytest-xdist runs more of them later."""
    _make_source()
    yield
    _drop_source()


TestTapPostgres = get_tap_test_class(
    TapPostgres,
    config={
        "dsn": DSN,
        "schema": SOURCE,
        "tables": [{"name": "people", "replication_key": "updated_at"}, "notes"],
    },
)


def _sync(capsys, config: dict, state: dict | None = None) -> list[dict]:
    capsys.readouterr()
    TapPostgres(config=config, state=state).sync_all()
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_discovery_types_keys_and_full_table(capsys) -> None:
    messages = _sync(capsys, {"dsn": DSN, "schema": SOURCE})
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    assert set(schemas) == {"notes", "people"}
    people = schemas["people"]
    assert people["key_properties"] == ["id"]
    props = people["schema"]["properties"]
    assert props["id"] == {"type": ["integer"]}
    assert props["name"] == {"type": ["string"]}
    assert props["updated_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["born"] == {"type": ["string", "null"], "format": "date"}
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "people"]
    assert records[0] == {
        "id": 1,
        "name": "ann",
        "active": True,
        "score": 1.5,
        "born": "1990-01-01",
        "updated_at": "2024-01-01T00:00:00.000000+00:00",
        "meta": {"a": 1},
        "tags": ["x"],
        "ref": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    }


def test_incremental_resumes_after_the_bookmark(capsys) -> None:
    config = {
        "dsn": DSN,
        "schema": SOURCE,
        "tables": [{"name": "people", "replication_key": "updated_at"}],
    }
    first = _sync(capsys, config)
    assert [m["record"]["id"] for m in first if m["type"] == "RECORD"] == [1, 2]
    state = next(m["value"] for m in reversed(first) if m["type"] == "STATE")
    bookmark = state["bookmarks"]["people"]["replication_key_value"]
    assert bookmark.startswith("2024-01-02T00:00:00")
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO \"{SOURCE}\".people (id, name, updated_at) VALUES (3, 'cy', "
            "'2024-01-03T00:00:00Z')"
        )
    try:
        second = _sync(capsys, config, state=state)
        assert [m["record"]["id"] for m in second if m["type"] == "RECORD"] == [3]
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DELETE FROM "{SOURCE}".people WHERE id = 3')


def test_unknown_table_and_replication_key_are_named(capsys) -> None:
    with pytest.raises(Exception, match=r"\['nope'\] are not in schema"):
        _sync(capsys, {"dsn": DSN, "schema": SOURCE, "tables": ["nope"]})
    with pytest.raises(Exception, match="no column 'missing'"):
        _sync(
            capsys,
            {
                "dsn": DSN,
                "schema": SOURCE,
                "tables": [{"name": "notes", "replication_key": "missing"}],
            },
        )


def test_target_then_tap_round_trip(pg_config, run_target, capsys, h) -> None:
    props = {
        "id": {"type": "integer"},
        "amount": {"type": ["number", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "day": {"type": ["string", "null"], "format": "date"},
        "label": {"type": ["string", "null"]},
        "obj": {"type": ["object", "null"]},
        "arr": {"type": ["array", "null"], "items": {"type": "integer"}},
    }
    record = {
        "id": 7,
        "amount": 12.25,
        "flag": False,
        "at": "2024-06-30T23:59:59.5+00:00",
        "day": "2024-06-30",
        "label": "x\ty",
        "obj": {"k": [1, {"z": None}]},
        "arr": [3, 2, 1],
    }
    run_target(pg_config, [h.schema("rt", props, ["id"]), h.record("rt", record)])
    messages = _sync(capsys, {**pg_config, "tables": ["rt"]})
    (got,) = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert got == {**record, "at": "2024-06-30T23:59:59.500000+00:00"}
    schema = next(m for m in messages if m["type"] == "SCHEMA")
    assert schema["key_properties"] == ["id"]
    assert schema["schema"]["properties"]["at"]["format"] == "date-time"
