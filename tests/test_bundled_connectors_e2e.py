"""The bundled rest and postgres connectors run through glue_runtime itself: `glue run FLOW`.

Real parts only: the rest connector's fake API on 127.0.0.1 (connectors/rest/tests), the
PostgreSQL server of GLUE_TEST_PG_DSN (or scripts/start-postgres.sh), a private schema per
test, and the installed connectors started by the runner. Each flow runs twice: the second run
must read only what is new since the bookmarks the first one committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from glue_test_helpers import read_jsonl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "connectors" / "rest" / "tests"))

from rest_fake_api import API_KEY, FakeAPI, start  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    dsn = os.environ.get("GLUE_TEST_PG_DSN")
    if dsn:
        return dsn
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "start-postgres.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/start-postgres.sh failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A unique schema name; dropped after the test."""
    name = f"glue_e2e_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server, fake = start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def glue_run(flow: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`glue run FLOW` with the installed console script, as a user runs it."""
    glue = Path(sys.executable).with_name("glue")
    argv = [str(glue)] if glue.exists() else [sys.executable, "-m", "glue_runtime"]
    return subprocess.run(
        [*argv, "run", str(flow)],
        cwd=flow.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


def query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def bookmark(state_file: Path, stream: str) -> Any:
    return json.loads(state_file.read_text())["bookmarks"][stream]["replication_key_value"]


def test_rest_tap_into_postgres_then_an_incremental_run(
    tmp_path: Path, api: FakeAPI, pg_dsn: str, pg_schema: str
) -> None:
    flow = tmp_path / "flow.yml"
    flow.write_text(
        f"""
name: items-to-postgres
source:
  connector: rest
  config:
    base_url: {api.base_url}/v1
    backoff_factor: 0.01
    auth: {{type: api_key, header: X-API-Key, value: "${{ITEMS_API_KEY}}"}}
    streams:
      - name: items
        path: /auth/header/items
        records_path: "$.data[*]"
        primary_keys: [id]
        replication_key: updated_at
        since_param: since
targets:
  - connector: postgres
    config: {{dsn: "${{PG_DSN}}", schema: {pg_schema}}}
state:
  file: state.json
"""
    )
    env = {"ITEMS_API_KEY": API_KEY, "PG_DSN": pg_dsn}
    table = f'"{pg_schema}".items'

    first = glue_run(flow, env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert API_KEY not in first.stdout + first.stderr
    rows = query(pg_dsn, f"SELECT id, name, price, active, tags, meta FROM {table} ORDER BY id")
    assert len(rows) == 25
    assert rows[0] == (1, "item 1", 1.25, False, ["t1"], {"color": "red", "size": 1})
    assert rows[-1][:2] == (25, "item 25")
    first_mark = bookmark(tmp_path / "state.json", "items")
    assert first_mark == "2024-01-02T01:00:00Z"

    # New rows after the bookmark, and a change to an old row that keeps its updated_at: an
    # incremental run reads the new ones (and the row at the bookmark) only.
    api.items[2]["name"] = "changed without a new updated_at"
    for i, at in ((26, "2024-01-03T00:00:00Z"), (27, "2024-01-04T00:00:00Z")):
        api.items.append({**api.items[-1], "id": i, "name": f"new {i}", "updated_at": at})
    api.requests.clear()

    second = glue_run(flow, env)
    assert second.returncode == 0, second.stderr[-3000:]
    sync = [r.query for r in api.hits("/v1/auth/header/items") if "since" in r.query]
    assert sync and {q["since"] for q in sync} == {first_mark}
    names = dict(query(pg_dsn, f"SELECT id, name FROM {table}"))
    assert len(names) == 27  # upserted by key: the re-read row at the bookmark is not doubled
    assert names[3] == "item 3"  # not re-read
    assert (names[26], names[27]) == ("new 26", "new 27")
    assert bookmark(tmp_path / "state.json", "items") == "2024-01-04T00:00:00Z"


def test_postgres_tap_into_the_files_target_then_an_incremental_run(
    tmp_path: Path, pg_dsn: str, pg_schema: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        conn.execute(
            f"""
            CREATE TABLE "{pg_schema}".people (
                id bigint PRIMARY KEY, name text NOT NULL, score numeric,
                updated_at timestamptz NOT NULL, meta jsonb);
            INSERT INTO "{pg_schema}".people VALUES
                (1, 'ann', 1.5, '2024-01-01T00:00:00Z', '{{"a": 1}}'),
                (2, 'bob', NULL, '2024-01-02T00:00:00Z', NULL),
                (3, 'cy', 7, '2024-01-03T00:00:00Z', '[1, 2]');
            """
        )
    flow = tmp_path / "flow.yml"
    flow.write_text(
        f"""
name: people-to-files
source:
  connector: postgres
  config:
    dsn: "${{PG_DSN}}"
    schema: {pg_schema}
    tables: [{{name: people, replication_key: updated_at}}]
targets:
  - connector: files
    config: {{output_dir: out, format: jsonl}}
state:
  file: state.json
"""
    )
    env = {"PG_DSN": pg_dsn}
    out = tmp_path / "out" / "people.jsonl"

    first = glue_run(flow, env)
    assert first.returncode == 0, first.stderr[-3000:]
    got = read_jsonl(out)
    assert [(r["id"], r["name"], r["score"], r["meta"]) for r in got] == [
        (1, "ann", 1.5, {"a": 1}),
        (2, "bob", None, None),
        (3, "cy", 7, [1, 2]),
    ]
    assert bookmark(tmp_path / "state.json", "people").startswith("2024-01-03T00:00:00")

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            f"""
            UPDATE "{pg_schema}".people SET name = 'ann, renamed' WHERE id = 1;
            INSERT INTO "{pg_schema}".people VALUES
                (4, 'dee', 2, '2024-01-04T00:00:00Z', NULL),
                (5, 'eve', 3, '2024-01-05T00:00:00Z', '{{"b": true}}');
            """
        )
    second = glue_run(flow, env)
    assert second.returncode == 0, second.stderr[-3000:]
    # the target overwrites each stream's file per run: it holds what the second run read
    assert [(r["id"], r["name"]) for r in read_jsonl(out)] == [(4, "dee"), (5, "eve")]
    assert bookmark(tmp_path / "state.json", "people").startswith("2024-01-05T00:00:00")
