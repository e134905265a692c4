"""The client secret kept as an app secret, an OAuth link made with it against the real test
provider, the key rotated (old key dropped), then a token refresh: it all still works and no
secret shows in any output or file, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from glue_runtime.cli import main
from glue_runtime.testing.oauth_provider import CLIENT_SECRET, OAuthProvider
from glue_runtime.workspace.crypto import envelope_key_id, read_key_file
from glue_runtime.workspace.oauth import finish_link, start_link
from glue_runtime.workspace.open import open_workspace
from glue_runtime.workspace.rekey import key_usage
from glue_runtime.workspace.store import links
from glue_runtime.workspace.tokens import fresh_credentials
from workspace.conftest_oauth import *  # noqa: F403
from workspace.conftest_oauth import FLOW, SOURCE, approve, make_workspace, quick
from workspace.secret_sweep import assert_no_secrets


def test_link_rotate_refresh_with_the_client_secret_from_the_store(
    tmp_path: Path,
    provider: OAuthProvider,
    redirect_uri: str,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("GLUE_SECRET_KEY", "GLUE_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GLUE_TEST_OAUTH_CLIENT_SECRET", "only-for-the-billing-connector")
    monkeypatch.setenv("GLUE_STORE_URL", store_url)
    root = make_workspace(
        tmp_path / "ws", provider.url, redirect_uri, store_url, secret_in_store=True
    )
    monkeypatch.setenv("GLUE_WORKSPACE", str(root))
    cli = CliRunner()
    outputs = []

    def glue(*args: str, input: str | None = None) -> str:
        result = cli.invoke(main, list(args), input=input)
        outputs.append(result.output)
        assert result.exit_code == 0, result.output
        return result.output

    glue("secrets", "set", FLOW, SOURCE, "client_secret", "--stdin", input=CLIENT_SECRET)
    with open_workspace(root) as opened:
        back = approve(start_link(opened, FLOW, "acme", SOURCE).url)
        link = finish_link(opened, back["state"], code=back["code"])
        first = opened.store.credentials(link)[1]
    assert provider.calls("authorization_code") == 1

    old_keys = read_key_file(root / ".glue" / "secret.key")
    glue("secrets", "rotate-key")
    assert "1 link credentials, 1 app secrets" in outputs[-1]
    glue("secrets", "rotate-key", "--no-new-key", "--drop-old")
    keys = read_key_file(root / ".glue" / "secret.key")
    assert len(keys) == 1 and keys[0] not in old_keys

    with open_workspace(root) as opened:
        ring = opened.keyring
        assert ring is not None and set(key_usage(opened.store)) == {ring.current_id}
        link = opened.store.link(FLOW, "acme", SOURCE)
        fresh = fresh_credentials(opened, link, margin_s=10**9, policy=quick())  # refresh now
        with opened.store.engine.connect() as conn:
            sealed = conn.execute(sa.select(links.c.secrets)).scalar_one()
        assert envelope_key_id(sealed) == ring.current_id
    assert provider.calls("refresh_token") == 1
    assert fresh["access_token"] != first["access_token"]
    assert fresh["refresh_token"] != first["refresh_token"]
    tokens = [
        first["access_token"],
        first["refresh_token"],
        fresh["access_token"],
        fresh["refresh_token"],
    ]
    assert_no_secrets([CLIENT_SECRET, *tokens, *old_keys, *keys], texts=outputs, folders=[root])
