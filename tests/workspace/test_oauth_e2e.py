"""The bundled rest tap reads the provider's API with each tenant's linked tokens (a real
tap process), the token expires, fresh_credentials refreshes it, and the tap reads again.
Nothing secret shows in the logs or errors of the whole cycle."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_oauth)

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from glue_runtime.errors import GlueError
from glue_runtime.testing.oauth_provider import CLIENT_SECRET, OAuthProvider
from glue_runtime.workspace.linkconfig import link_config
from glue_runtime.workspace.oauth import finish_link, start_link
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import Link
from glue_runtime.workspace.tokens import fresh_credentials
from workspace.conftest_oauth import (
    FLOW,
    SOURCE,
    Sleeps,
    approve,
    opened,
    provider,
    quick,
    redirect_uri,
    ws_root,
)
from workspace.secret_sweep import assert_no_secrets

TAP = str(Path(sys.executable).with_name("tap-rest"))


def _link(opened: Opened, tenant: str, account: str, seen: list[str]) -> Link:
    back = approve(start_link(opened, FLOW, tenant, SOURCE).url, login_hint=account)
    seen += [back["state"], back["code"]]
    return finish_link(opened, back["state"], code=back["code"])


def _read(opened: Opened, link: Link, tmp: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run tap-rest with the link's config (app config + fresh credentials)."""
    supported = opened.workspace.flow(FLOW).connector(SOURCE)
    config = link_config(
        supported.config,
        flow=FLOW,
        tenant=link.tenant,
        connector=SOURCE,
        settings=link.settings,
        secrets=fresh_credentials(opened, link, **kw),
    )
    path = tmp / f"{link.tenant}.json"
    path.write_text(json.dumps(config))
    return subprocess.run([TAP, "--config", str(path)], capture_output=True, text=True, timeout=120)


def _ids(out: str) -> list[str]:
    return [
        m["record"]["id"] for m in map(json.loads, out.splitlines()) if m.get("type") == "RECORD"
    ]


def test_two_tenants_read_their_own_data_then_refresh_and_read_again(
    opened: Opened, provider: OAuthProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []  # every state, code and token of the test
    acme = _link(opened, "acme", "account-a", seen)
    globex = _link(opened, "globex", "account-b", seen)
    seen += [v for link in (acme, globex) for v in _tokens(opened, link)]
    first = _read(opened, acme, tmp_path)
    assert first.returncode == 0, first.stderr
    assert _ids(first.stdout) == ["account-a-1", "account-a-2", "account-a-3"]
    other = _read(opened, globex, tmp_path)
    assert _ids(other.stdout) == ["account-b-1", "account-b-2", "account-b-3"]

    provider.expire_access_tokens()  # the hour has passed at the provider...
    stale = _read(opened, acme, tmp_path)  # ...but not by our clock: the old token is used
    assert stale.returncode != 0 and "401" in stale.stderr
    later = time.time() + 7200
    provider.fail_next("429", retry_after=0)
    again = _read(opened, acme, tmp_path, now=lambda: later, policy=quick(Sleeps()))
    seen += _tokens(opened, acme)
    assert again.returncode == 0, again.stderr
    assert _ids(again.stdout) == ["account-a-1", "account-a-2", "account-a-3"]
    assert provider.calls("refresh_token") == 2  # the 429, then the refresh

    provider.fail_next("invalid_grant")
    with pytest.raises(GlueError) as err:
        fresh_credentials(opened, globex, now=lambda: later, policy=quick())
    assert "retrying" in caplog.text  # the 429 was logged, without any value:
    outputs = [first, other, stale, again]
    # every log line but the test browser's own GET of the authorize URL (state is in it)
    logs = [r.getMessage() for r in caplog.records if "/authorize?" not in r.getMessage()]
    assert_no_secrets(
        [CLIENT_SECRET, *seen],
        texts=[*logs, str(err.value), err.value.hint or "", *(p.stderr for p in outputs)],
        folders=[opened.workspace.root],  # the store file holds only ciphertext and hashes
    )


def _tokens(opened: Opened, link: Link) -> list[str]:
    return [str(v) for k, v in opened.store.credentials(link)[1].items() if k.endswith("token")]
