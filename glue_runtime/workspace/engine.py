"""Engines for the workspace store: SQLite with WAL, a busy timeout and ``BEGIN IMMEDIATE``
writes (plain reads take no write lock); PostgreSQL through psycopg 3."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

WRITE = "glue_write"
"""The execution option :meth:`Store.write` sets on its connection: SQLite begins it IMMEDIATE."""


def lock_schema(conn: Connection) -> None:
    """On PostgreSQL, one schema change at a time (two `glue init` racing on a new database);
    SQLite's BEGIN IMMEDIATE already serialises them."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7261746)")


def driver_url(url: str) -> str:
    """``postgresql://`` (what users write, and what libpq tools take) with the psycopg 3
    driver that glue_runtime depends on, rather than SQLAlchemy's default psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def make_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    """An engine; on SQLite with WAL, a busy timeout and ``BEGIN IMMEDIATE`` writes."""
    if not url.startswith("sqlite"):
        return sa.create_engine(driver_url(url), pool_pre_ping=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
