"""Test helpers for the workspace store: a fresh store URL on SQLite or the real PostgreSQL.

PostgreSQL comes from GLUE_TEST_PG_DSN. Each test gets a schema of its own (the test role may
not create databases), named in the URL's ``search_path`` so the store's tables land there;
it is dropped after the test. Without a reachable server the test is skipped with the reason,
unless CI is set: then it fails, so CI never passes by skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pg_dsn() -> str:
    """The test server's DSN; skips (or fails under CI) when there is none to reach."""
    dsn = os.environ.get("GLUE_TEST_PG_DSN")
    why = "GLUE_TEST_PG_DSN is not set" if not dsn else _unreachable(dsn)
    if why:
        message = f"PostgreSQL store tests need a server: {why}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    assert dsn
    return dsn


def _unreachable(dsn: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5):
            return None
    except psycopg.Error as exc:
        return f"cannot connect to GLUE_TEST_PG_DSN ({exc})"


@contextmanager
def fresh_pg_url() -> Iterator[str]:
    """A store URL on the test server whose tables go to a new schema, dropped after."""
    import psycopg

    dsn = pg_dsn()
    schema = f"glue_store_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def fresh_store_url(kind: str, folder: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file in ``folder``, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'store.db'}"
    else:
        with fresh_pg_url() as url:
            yield url
