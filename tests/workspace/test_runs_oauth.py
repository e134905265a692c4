"""The full OAuth cycle through `glue run`: link (the provider on 127.0.0.1), run (the bundled
rest tap reads the tenant's account with its token), the token nears its expiry, the next run
refreshes it first, a rejected refresh fails the job (exit 6) with no state change; nothing
secret in any output or file."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_oauth)

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import yaml
from glue_test_helpers import run_cli

from glue_runtime.testing.oauth_provider import CLIENT_SECRET, OAuthProvider
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.oauth import finish_link, start_link
from glue_runtime.workspace.open import Opened
from workspace.conftest_oauth import (
    FLOW,
    SOURCE,
    approve,
    opened,
    provider,
    redirect_uri,
    ws_root,
)
from workspace.secret_sweep import assert_no_secrets


def _with_targets(root: Path, margin: str) -> None:
    """glue.yml with a target per tenant and the token refresh margin given."""
    path = root / "glue.yml"
    doc = yaml.safe_load(path.read_text())
    doc["flows"][FLOW]["targets"] = {
        "db": {"connector": "sqlite", "config": {"database": "out/{tenant}-{connector}.db"}}
    }
    doc["settings"] = {"token_refresh_margin": margin}
    path.write_text(yaml.safe_dump(doc))


def _ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM contacts ORDER BY id")]


def test_link_run_expiry_refresh_run_and_a_rejected_refresh_through_the_cli(
    opened: Opened, ws_root: Path, provider: OAuthProvider
) -> None:
    for tenant, account in (("acme", "account-a"), ("globex", "account-b")):
        back = approve(start_link(opened, FLOW, tenant, SOURCE).url, login_hint=account)
        finish_link(opened, back["state"], code=back["code"])
    env = {**os.environ, "GLUE_WORKSPACE": str(ws_root)}

    def glue(*args: str):
        return run_cli(*args, cwd=ws_root, env=env)

    _with_targets(ws_root, "10m")  # the tokens live an hour: no refresh yet
    first = glue("run", FLOW, "--all-tenants", "--connector", SOURCE)
    assert first.code == 0, first.stderr[-3000:]
    assert _ids(ws_root / "out" / "acme-contacts.db") == [f"account-a-{i}" for i in (1, 2, 3)]
    assert _ids(ws_root / "out" / "globex-contacts.db") == [f"account-b-{i}" for i in (1, 2, 3)]
    assert provider.calls("refresh_token") == 0

    provider.expire_access_tokens()  # the old token no longer works at the API
    _with_targets(ws_root, "2h")  # and expires within the margin: the run refreshes it first
    second = glue("run", FLOW, "--tenant", "acme", "--connector", SOURCE)
    assert second.code == 0, second.stderr[-3000:]
    assert provider.calls("refresh_token") == 1
    assert _ids(ws_root / "out" / "acme-contacts.db") == [f"account-a-{i}" for i in (1, 2, 3)]

    states = DbStateStore(opened.store)
    before = states.get(f"{FLOW}/globex/{SOURCE}")
    provider.fail_next("invalid_grant")
    rejected = glue("run", FLOW, "--tenant", "globex", "--connector", SOURCE)
    assert rejected.code == 6, rejected.stderr[-3000:]
    assert f"{FLOW}/globex/{SOURCE}: FAILED" in rejected.stderr
    assert opened.store.link(FLOW, "globex", SOURCE).status == "needs_reauth"
    assert states.get(f"{FLOW}/globex/{SOURCE}") == before
    again = glue("run", FLOW, "--tenant", "globex", "--connector", SOURCE)
    assert again.code == 6 and provider.calls("refresh_token") == 2  # no retry loop

    secrets = [CLIENT_SECRET]
    for tenant in ("acme", "globex"):
        link = opened.store.link(FLOW, tenant, SOURCE)
        creds = opened.store.credentials(link)[1]
        secrets += [str(creds[k]) for k in ("access_token", "refresh_token")]
    outputs = [r.stdout + r.stderr for r in (first, second, rejected, again)]
    assert_no_secrets(secrets, texts=outputs, folders=[ws_root])
