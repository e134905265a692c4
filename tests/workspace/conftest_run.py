"""Workspaces for the tests of workspace runs (i12-run): a glue.yml, a store with tenants and
links, and each tenant's own source files. Imported by test_runs*.py."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_test_helpers import SINGER, CliResult, run_cli

from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.store import Store, sqlite_url

KEY = new_key()
ROTATING_TAP = str(SINGER / "rotating_tap.py")

ETL = """
def schema(stream, schema, ctx):
    return ctx.reshape(add={k: {"type": ["string", "null"]} for k in ("tenant", "flow", "connector", "job_id")})


def transform(record, ctx):
    return {**record, "tenant": ctx.tenant, "flow": ctx.flow, "connector": ctx.connector, "job_id": ctx.job_id}
"""

GLUE_YML = """
name: test
flows:
  shop:
    sources:
      files:
        connector: files
        config:
          streams:
            - {name: orders, path: orders, key_properties: [id], replication_key: updated_at}
      other:
        connector: files
        config:
          streams: [{name: other, path: other}]
    targets:
      db:
        connector: sqlite
        config: {database: "out/{tenant}.db"}
    etl: etl.py
  mapped:
    sources:
      files:
        connector: files
        config:
          streams:
            - {name: orders, path: orders, key_properties: [id], replication_key: updated_at}
    targets:
      db:
        connector: sqlite
        config: {database: "out/mapped-{tenant}.db"}
    field_map: fieldmap.yml
  rotating:
    sources:
      api:
        connector: %(rotating)s
        auth: api_key
        config: {records: 3}
    targets:
      db:
        connector: sqlite
        config: {database: "out/rotating-{tenant}-{connector}.db"}
  writes:
    sources:
      files:
        connector: files
        config: {streams: [{name: orders, path: orders, key_properties: [id]}]}
    targets:
      crm:
        connector: sqlite
        auth: api_key
        config: {database: "out/writes-{tenant}.db"}
  batchy:
    sources:
      legacy:
        connector: files
        config: {streams: [{name: orders, path: orders, key_properties: [id]}]}
    targets:
      db:
        connector: sqlite
        config: {database: "out/batch-{tenant}.db"}
    etl: batch_etl.py
    etl_mode: batch
"""

BATCH_ETL = """
import json
import os

names = ("TENANT", "FLOW", "CONNECTOR_ID")
schema = {"type": "object", "properties": {"id": {"type": "integer"}, **{n.lower(): {"type": "string"} for n in names}}}
with open(os.path.join(os.environ["ETL_OUTPUT"], "data.singer"), "w") as out:
    out.write(json.dumps({"type": "SCHEMA", "stream": "env", "schema": schema, "key_properties": ["id"]}) + "\\n")
    record = {"id": 1, **{n.lower(): os.environ[n] for n in names}}
    out.write(json.dumps({"type": "RECORD", "stream": "env", "record": record}) + "\\n")
"""

FIELD_MAP = """
streams:
  orders:
    fields: [id, name, updated_at, vip]
"""


def orders(folder: Path, rows: list[dict[str, Any]], name: str = "part-1.jsonl") -> None:
    (folder / "orders").mkdir(parents=True, exist_ok=True)
    (folder / "orders" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def rows(db: Path, table: str = "orders") -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY id')]


@dataclass
class Workspace:
    root: Path
    store: Store
    env: dict[str, str]

    def data(self, tenant: str) -> Path:
        return self.root / "data" / tenant

    def link(self, flow: str, tenant: str, connector: str, **kw: Any) -> None:
        settings = kw.pop("settings", {"base_dir": str(self.data(tenant))})
        self.store.save_link(
            flow=flow,
            tenant=tenant,
            connector=connector,
            direction=kw.pop("direction", "read"),
            auth=kw.pop("auth", "none"),
            settings=settings,
            secrets=kw.pop("secrets", None),
        )

    def glue(self, *args: str) -> CliResult:
        return run_cli(*args, cwd=self.root, env=self.env)


def make_workspace(root: Path, store_url: str | None = None) -> Workspace:
    """Two tenants (acme, globex), each with its own orders files, linked to flow shop; the
    store in the workspace (SQLite), or at ``store_url`` (GLUE_STORE_URL)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "glue.yml").write_text(GLUE_YML % {"rotating": ROTATING_TAP})
    (root / "etl.py").write_text(ETL)
    (root / "fieldmap.yml").write_text(FIELD_MAP)
    (root / "batch_etl.py").write_text(BATCH_ETL)
    (root / ".glue").mkdir()
    url = store_url or sqlite_url(str(root / ".glue" / "store.db"))
    store = Store(url, Keyring.from_texts([KEY], "test"))
    store.create()
    env = {"GLUE_SECRET_KEY": KEY, "GLUE_WORKSPACE": str(root)}
    if store_url:
        env["GLUE_STORE_URL"] = store_url
    ws = Workspace(root, store, env)
    t0 = "2024-01-0%dT00:00:00+00:00"
    orders(
        ws.data("acme"),
        [{"id": i, "name": f"acme-{i}", "updated_at": t0 % i, "vip": True} for i in (1, 2)],
    )
    orders(
        ws.data("globex"),
        [{"id": i, "name": f"globex-{i}", "updated_at": t0 % i} for i in (1, 2, 3)],
    )
    for tenant in ("acme", "globex"):
        store.add_tenant(tenant)
        ws.link("shop", tenant, "files")
    return ws
