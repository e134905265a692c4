"""singer-sdk's standard tap and target test suites."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from pathlib import Path

from glue_sqlite.tap import TapSqlite
from glue_sqlite.target import TargetSqlite
from singer_sdk.testing import get_tap_test_class, get_target_test_class

_DIR = Path(tempfile.mkdtemp(prefix="glue-sqlite-std-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
SOURCE = _DIR / "source.db"


def _make_source() -> None:
    """A database with every type the target writes, built before the classes are made
    (the test factories discover streams at collection time)."""
    conn = sqlite3.connect(SOURCE)
    conn.executescript(
        """
        CREATE TABLE people (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, active BOOLEAN, score REAL,
            born DATE, updated_at TIMESTAMP, meta OBJECT, tags ARRAY);
        INSERT INTO people VALUES
            (1, 'ann', 1, 1.5, '1990-01-01', '2024-01-01T00:00:00+00:00', '{"a": 1}', '["x"]'),
            (2, 'bob', 0, NULL, NULL, '2024-01-02T00:00:00+00:00', NULL, '[]');
        CREATE TABLE notes (body TEXT, n INTEGER);
        INSERT INTO notes VALUES ('hello', 1), ('world', 2);
        """
    )
    conn.commit()
    conn.close()


_make_source()

TestTapSqlite = get_tap_test_class(
    TapSqlite,
    config={
        "database": str(SOURCE),
        "tables": [{"name": "people", "replication_key": "updated_at"}, "notes"],
    },
)

TestTargetSqlite = get_target_test_class(
    TargetSqlite,
    config={"database": str(_DIR / "target.db")},
)
