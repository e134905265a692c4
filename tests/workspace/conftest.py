"""Shared fixtures of the workspace tests: a keyring and a store on SQLite or PostgreSQL.

``store_url`` is parametrised over both databases (the PostgreSQL case carries the
``postgres`` mark: select it with ``-m postgres`` or ``-k postgresql``); a test that needs
one database only uses ``sqlite_url`` / ``store`` (SQLite) instead. See store_test_helpers
for where PostgreSQL comes from and when its tests skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_test_helpers import KINDS, fresh_store_url

from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.store import Store


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store, on SQLite and on PostgreSQL (a fresh schema, dropped after)."""
    with fresh_store_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of an empty SQLite store in the test's folder."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def keyring() -> Keyring:
    """A keyring with one new random key."""
    return Keyring.from_texts([new_key()], "the test")


@pytest.fixture
def store(sqlite_url: str, keyring: Keyring) -> Iterator[Store]:
    """A created SQLite store with ``keyring``."""
    opened = Store(sqlite_url, keyring)
    opened.create()
    yield opened
    opened.close()


@pytest.fixture
def any_store(store_url: str, keyring: Keyring) -> Iterator[Store]:
    """A created store with ``keyring``, once on SQLite and once on PostgreSQL."""
    opened = Store(store_url, keyring)
    opened.create()
    yield opened
    opened.close()
