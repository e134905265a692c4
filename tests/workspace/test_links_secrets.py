"""No secret a tenant linked with appears in any output, log line or file of the workspace."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from workspace.conftest_links import GOOD_KEY, Space, space
from workspace.secret_sweep import assert_no_secrets

__all__ = ["space"]  # fixture

ACCESS = "acc-7d2f9e1b4c3a"
REFRESH = "ref-5b8c1d0e9f2a"
BAD_KEY = "bad-key-3e9a7c51d2"


def test_no_secret_in_outputs_logs_or_files(
    space: Space, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the connectors' config files
    cli = space.cli
    for tenant in ("acme", "beta"):
        assert cli("tenants", "add", tenant).exit_code == 0
    linked = cli("link", "shop", "keyed", "--tenant", "acme", input=f"acct-1\n{GOOD_KEY}\n")
    assert linked.exit_code == 0, linked.output
    refused = cli("-v", "link", "shop", "keyed", "--tenant", "beta", input=f"acct-2\n{BAD_KEY}\n")
    assert refused.exit_code != 0
    refused_json = cli(
        "--log-format",
        "json",
        "link",
        "shop",
        "keyed",
        "--tenant",
        "beta",
        input=f"acct-2\n{BAD_KEY}\n",
    )
    assert refused_json.exit_code != 0
    with space.open() as opened:
        opened.store.save_link(
            flow="shop",
            tenant="acme",
            connector="crm",
            direction="read",
            auth="oauth2",
            settings={},
            secrets={"access_token": ACCESS, "refresh_token": REFRESH},
        )
    for args in (
        ["links", "list"],
        ["links", "list", "--json"],
        ["-v", "links", "show", "shop", "keyed", "--tenant", "acme"],
        ["links", "show", "shop", "crm", "--tenant", "acme", "--json"],
        ["tenants", "show", "acme"],
        ["tenants", "show", "acme", "--json"],
        ["tenants", "list", "--json"],
        ["--log-format", "json", "unlink", "shop", "crm", "--tenant", "acme", "--yes"],
        ["-v", "tenants", "remove", "acme", "--yes"],
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert len(space.revocation.revoked) == 2  # the OAuth tokens went to the provider only
    assert any("rejected for account acct-2" in o for o in space.outputs)  # the check's error
    # every output, and every file of the workspace (its SQLite store too: only ciphertext),
    # the connectors' temporary folder and the caches
    assert_no_secrets(
        (GOOD_KEY, BAD_KEY, ACCESS, REFRESH),
        texts=space.outputs,
        folders=[space.root, scratch, Path(os.environ["GLUE_CACHE_DIR"])],
    )
