"""Failures as a user sees them: the real target-postgres CLI, its exit code and its stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytestmark = pytest.mark.postgres

SECRET = "Wr0ng-Pa55word-xyzzy"
INPUT = (
    json.dumps(
        {
            "type": "SCHEMA",
            "stream": "s",
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "key_properties": ["id"],
        }
    )
    + "\n"
    + json.dumps({"type": "RECORD", "stream": "s", "record": {"id": 1}})
    + "\n"
)


def _run_cli(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from glue_postgres.target import TargetPostgres; TargetPostgres.cli()",
            "--config",
            str(cfg),
        ],
        input=INPUT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_clear_and_secret_free(proc: subprocess.CompletedProcess, server: dict) -> None:
    assert proc.returncode != 0
    assert proc.stdout == ""  # no STATE, no partial output
    err = proc.stderr
    assert SECRET not in err
    assert "Cannot connect to PostgreSQL at" in err
    assert f"{server['host']}:{server['port']}" in err
    assert f"user '{server['user']}'" in err
    assert "password authentication failed" in err


def test_wrong_password_in_settings_is_reported_without_the_password(
    tmp_path, pg_dsn, pg_schema
) -> None:
    server = conninfo_to_dict(pg_dsn)
    config = {
        "host": server["host"],
        "port": int(server["port"]),
        "user": server["user"],
        "password": SECRET,
        "database": server["dbname"],
        "schema": pg_schema,
    }
    _assert_clear_and_secret_free(_run_cli(tmp_path, config), server)


def test_wrong_password_in_dsn_is_reported_without_the_dsn(tmp_path, pg_dsn, pg_schema) -> None:
    server = conninfo_to_dict(pg_dsn)
    dsn = make_conninfo(pg_dsn, password=SECRET)
    proc = _run_cli(tmp_path, {"dsn": dsn, "schema": pg_schema})
    _assert_clear_and_secret_free(proc, server)
    assert dsn not in proc.stderr


def test_malformed_dsn_is_not_echoed(tmp_path) -> None:
    dsn = f"postgresql://glue:{SECRET}@127.0.0.1:1/db?no_such_option=1"
    proc = _run_cli(tmp_path, {"dsn": dsn})
    assert proc.returncode != 0
    assert SECRET not in proc.stderr
    assert "Setting 'dsn' is not a valid" in proc.stderr and "no_such_option" in proc.stderr


def test_missing_connection_settings_are_named(tmp_path) -> None:
    proc = _run_cli(tmp_path, {"host": "127.0.0.1", "password": SECRET})
    assert proc.returncode != 0
    assert SECRET not in proc.stderr
    assert "Missing setting(s) user, database" in proc.stderr
