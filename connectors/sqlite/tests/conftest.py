"""Shared helpers: run the target and the tap in-process on real SQLite files."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from glue_sqlite.tap import TapSqlite
from glue_sqlite.target import TargetSqlite


def schema_msg(stream: str, props: dict[str, Any], keys: list[str] | None = None) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": props},
        "key_properties": keys or [],
    }


def record_msg(stream: str, record: dict[str, Any]) -> dict:
    return {"type": "RECORD", "stream": stream, "record": record}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "out.db"


@pytest.fixture
def run_target(capsys: pytest.CaptureFixture) -> Callable[..., list[Any]]:
    """Feed messages to a TargetSqlite; return the states it emitted."""

    def run(config: dict[str, Any], messages: list[dict]) -> list[Any]:
        capsys.readouterr()
        text = "".join(json.dumps(m) + "\n" for m in messages)
        TargetSqlite(config=config).listen(io.StringIO(text))
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    return run


@pytest.fixture
def run_tap(capsys: pytest.CaptureFixture) -> Callable[..., list[dict]]:
    """Run a TapSqlite sync; return the Singer messages it wrote."""

    def run(config: dict[str, Any], state: dict | None = None) -> list[dict]:
        capsys.readouterr()
        TapSqlite(config=config, state=state).sync_all()
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    return run


def rows(database: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(database)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def h() -> Any:
    """Message builders and a query helper (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(schema=schema_msg, record=record_msg, rows=rows)
