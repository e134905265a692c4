"""A workspace for the job tests: flow ``shop`` with the bundled files tap (two streams), a slow
fake tap with an API key (to cancel, and to look for the key in logs), a failing one and one that
shows its ``start_date``, into the sqlite target; tenants acme (every source linked) and globex
(files only). ``jobs_ws`` opens it; tests queue jobs with ``jobs_ws.queue(...)``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import FAKE_TAP, CliResult, run_cli
from store_test_helpers import KINDS, fresh_store_url

from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.records import enqueue
from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.store import Store, sqlite_url

KEY = new_key()
DATE_TAP = str(Path(__file__).with_name("date_tap.py"))
API_KEY = "sk-live-the-acme-api-key-0123456789"

GLUE_YML = """
name: jobs-test
flows:
  shop:
    sources:
      files:
        connector: files
        config:
          streams:
            - {name: orders, path: orders, key_properties: [id], replication_key: updated_at}
            - {name: customers, path: customers, key_properties: [id], replication_key: updated_at}
      slow:
        connector: %(fake)s
        auth: api_key
        config: {streams: [users], records: 100000, sleep: 0.01, state_every: 5}
      broken:
        connector: %(fake)s
        config: {records: 10, fail_after: 3}
      dated:
        connector: %(dated)s
    targets:
      db:
        connector: sqlite
        config: {database: "out/{tenant}-{connector}.db"}
  mapped:
    sources:
      files:
        connector: files
        config:
          streams:
            - {name: orders, path: orders, key_properties: [id], replication_key: updated_at}
            - {name: customers, path: customers, key_properties: [id], replication_key: updated_at}
    targets:
      db:
        connector: sqlite
        config: {database: "out/mapped-{tenant}.db"}
    field_map: fieldmap.yml
"""

FIELD_MAP = """
streams:
  orders:
    fields: [id, updated_at]
"""


def write_rows(
    folder: Path, stream: str, rows: list[dict[str, Any]], name: str = "p1.jsonl"
) -> None:
    (folder / stream).mkdir(parents=True, exist_ok=True)
    (folder / stream / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def day(n: int) -> str:
    return f"2024-01-{n:02d}T00:00:00+00:00"


@dataclass
class JobsWorkspace:
    root: Path
    store: Store
    opened: Opened
    env: dict[str, str]

    def data(self, tenant: str) -> Path:
        return self.root / "data" / tenant

    def queue(
        self, connector: str = "files", tenant: str = "acme", flow: str = "shop", **kw: Any
    ) -> Job:
        job, _new = enqueue(self.store, JobRequest(flow, tenant, connector, **kw))
        return job

    def glue(self, *args: str, timeout: float = 120) -> CliResult:
        return run_cli(*args, cwd=self.root, env=self.env, timeout=timeout)


def make_jobs_workspace(
    root: Path, store_url: str | None = None
) -> tuple[Path, Store, dict[str, str]]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "glue.yml").write_text(GLUE_YML % {"fake": FAKE_TAP, "dated": DATE_TAP})
    (root / "fieldmap.yml").write_text(FIELD_MAP)
    (root / ".glue").mkdir()
    url = store_url or sqlite_url(str(root / ".glue" / "store.db"))
    store = Store(url, Keyring.from_texts([KEY], "test"))
    store.create()
    env = {"GLUE_SECRET_KEY": KEY, "GLUE_WORKSPACE": str(root)}
    if store_url:
        env["GLUE_STORE_URL"] = store_url
    for tenant in ("acme", "globex"):
        data = root / "data" / tenant
        write_rows(
            data,
            "orders",
            [{"id": i, "name": f"{tenant}-o{i}", "updated_at": day(i)} for i in (1, 2)],
        )
        write_rows(
            data,
            "customers",
            [{"id": i, "name": f"{tenant}-c{i}", "updated_at": day(i)} for i in (1, 2, 3)],
        )
        store.add_tenant(tenant)
        store.save_link(
            flow="shop",
            tenant=tenant,
            connector="files",
            direction="read",
            auth="none",
            settings={"base_dir": str(data)},
            secrets=None,
        )
    store.save_link(
        flow="mapped",
        tenant="acme",
        connector="files",
        direction="read",
        auth="none",
        settings={"base_dir": str(root / "data" / "acme")},
        secrets=None,
    )
    store.save_link(
        flow="shop",
        tenant="acme",
        connector="slow",
        direction="read",
        auth="api_key",
        settings={},
        secrets={"api_key": API_KEY},
    )
    for connector in ("broken", "dated"):
        store.save_link(
            flow="shop",
            tenant="acme",
            connector=connector,
            direction="read",
            auth="none",
            settings={},
            secrets=None,
        )
    return root, store, env


def _open(
    root: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None
) -> Iterator[JobsWorkspace]:
    root, store, env = make_jobs_workspace(root, store_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(root)
    with open_workspace(root) as opened:
        yield JobsWorkspace(root, store, opened, env)
    store.close()


@pytest.fixture
def jobs_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobsWorkspace]:
    """The job tests' workspace on SQLite."""
    yield from _open(tmp_path / "ws", monkeypatch, None)


@pytest.fixture
def any_jobs_ws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> Iterator[JobsWorkspace]:
    """The job tests' workspace on SQLite, then on PostgreSQL."""
    yield from _open(tmp_path / "ws", monkeypatch, store_url)


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store's URL, on SQLite and on PostgreSQL (a fresh schema, dropped after)."""
    with fresh_store_url(request.param, tmp_path) as url:
        yield url
