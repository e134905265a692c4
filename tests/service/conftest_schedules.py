"""Workspaces for the schedule tests (i13-schedules): conftest_run's workspace (tenants acme
and globex linked to flow shop's `files` source) with schedules in glue.yml, opened as a
``glue serve`` process opens it, and a clock the test moves by hand."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_test_helpers import KINDS, fresh_store_url
from workspace.conftest_run import GLUE_YML, KEY, ROTATING_TAP, Workspace, make_workspace

from glue_runtime.service.context import ServiceContext
from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.crypto import Keyring
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import Store
from glue_runtime.workspace.tables import links

HOURLY = """
      hourly:
        cron: "0 * * * *"
"""

# The tests' clock starts at a midnight (UTC) after every link the test makes with the real
# clock, so no tick is "before the tenant was linked" unless a test says so.
T0 = float((math.ceil(time.time() / 86400) + 2) * 86400)


def at(text: str) -> float:
    """An ISO date-time (with its offset) as epoch seconds."""
    return dt.datetime.fromisoformat(text).timestamp()


class Clock:
    """``ctx.now`` for the tests: moved by hand, never by waiting."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Scheduled:
    ws: Workspace
    opened: Opened
    clock: Clock

    @property
    def store(self) -> Store:
        return self.opened.store

    def context(self) -> ServiceContext:
        """A fresh ServiceContext over the same workspace and store (one per "server")."""
        return ServiceContext(self.opened, now=self.clock)

    def linked_at(self, tenant: str, when: float) -> None:
        """Pretend the tenant's links in flow shop were made at ``when`` (the test's clock)."""
        with self.store.write() as conn:
            conn.execute(sa.update(links).where(links.c.tenant == tenant).values(created_at=when))


def schedules_yaml(root: Path, schedules: str) -> None:
    """Rewrite the workspace's glue.yml with ``schedules`` (YAML under flow shop)."""
    text = GLUE_YML % {"rotating": ROTATING_TAP}
    head, tail = text.split("  shop:\n", 1)
    (root / "glue.yml").write_text(f"{head}  shop:\n    schedules:{schedules}{tail}")


def open_scheduled(root: Path, store_url: str | None, schedules: str) -> Scheduled:
    ws = make_workspace(root, store_url)
    schedules_yaml(root, schedules)
    workspace = load_workspace(root)
    opened = Opened(workspace, ws.store, Keyring.from_texts([KEY], "test"))
    return Scheduled(ws, opened, Clock())


@pytest.fixture(params=KINDS)
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None (the workspace's own SQLite store), then a fresh PostgreSQL schema's URL."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_store_url(request.param, tmp_path) as url:
        yield url
