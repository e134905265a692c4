"""`glue keys create|list|revoke` as real processes: the key is printed once, stored hashed,
and a revoked key is refused."""

from __future__ import annotations

import json

import sqlalchemy as sa
from workspace.conftest_run import Workspace

from glue_runtime.service.keys import verify_key
from glue_runtime.service.tables import service_keys


def test_create_prints_the_key_once_and_stores_only_its_hash(workspace_dir: Workspace) -> None:
    made = workspace_dir.glue("keys", "create", "backend", "--tenant", "acme")
    assert made.code == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("gk_") and len(key) > 40
    assert "tenant 'acme'" in made.stderr and key not in made.stderr
    who = verify_key(workspace_dir.store, key)
    assert who is not None and (who.name, who.tenant) == ("backend", "acme")
    with workspace_dir.store.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(service_keys)).all()]
    assert key not in repr(stored) and key.split("_")[2] not in repr(stored)
    listed = workspace_dir.glue("keys", "list", "--json")
    assert listed.code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["id"], row["name"], row["tenant"]) == (who.key_id, "backend", "acme")
    assert key not in listed.stdout


def test_revoke_refuses_the_key_from_then_on(workspace_dir: Workspace) -> None:
    key = workspace_dir.glue("keys", "create", "ops").stdout.strip()
    key_id = key.split("_")[1]
    revoked = workspace_dir.glue("keys", "revoke", key_id)
    assert revoked.code == 0, revoked.stderr
    assert verify_key(workspace_dir.store, key) is None
    assert workspace_dir.glue("keys", "list").stdout.startswith("no service keys")
    assert key_id in workspace_dir.glue("keys", "list", "--revoked").stdout


def test_unknown_ids_and_tenants_are_named_errors(workspace_dir: Workspace) -> None:
    unknown = workspace_dir.glue("keys", "revoke", "abcdef")
    assert unknown.code == 2 and "no service key 'abcdef'" in unknown.stderr
    tenant = workspace_dir.glue("keys", "create", "x", "--tenant", "nobody")
    assert tenant.code == 2 and "unknown tenant 'nobody'" in tenant.stderr
    assert workspace_dir.glue("keys", "list", "--json").stdout.strip() == "[]"


def test_a_keys_last_use_is_recorded_at_most_once_a_minute(
    workspace_dir: Workspace, admin_key: str
) -> None:
    from service.conftest import serve_app

    def last_used() -> float | None:
        listed = json.loads(workspace_dir.glue("keys", "list", "--json").stdout)
        return listed[0]["last_used_at"]

    assert last_used() is None
    with serve_app(workspace_dir.root) as server:
        server.ctx.now = lambda: 1_900_000_000.0
        client = server.client(admin_key)
        assert client.get("/v1/jobs").status_code == 200
        assert last_used() == 1_900_000_000.0
        server.ctx.now = lambda: 1_900_000_030.0
        client.get("/v1/jobs")
        assert last_used() == 1_900_000_000.0  # not written again within the minute
        server.ctx.now = lambda: 1_900_000_061.0
        client.get("/v1/jobs")
        assert last_used() == 1_900_000_061.0
