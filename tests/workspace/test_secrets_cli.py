"""`glue secrets`: new-key, keys, rotate-key, set/list/unset; values never printed."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from glue_runtime.cli import main
from glue_runtime.workspace.appsecrets import app_secret
from glue_runtime.workspace.crypto import ENV_KEY, new_key, read_key_file
from glue_runtime.workspace.open import open_workspace
from workspace.conftest_secrets import *  # noqa: F403
from workspace.secret_sweep import assert_no_secrets

SECRET = "crm-client-secret-from-cli-4b1d"


def _glue(root: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--workspace", str(root), *args], input=input)


@pytest.fixture
def restore_workspace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`glue --workspace` sets GLUE_WORKSPACE in this process; put it back afterwards."""
    monkeypatch.setenv("GLUE_WORKSPACE", "")
    monkeypatch.delenv("GLUE_WORKSPACE")


def test_new_key_prints_a_256_bit_key() -> None:
    result = CliRunner().invoke(main, ["secrets", "new-key"])
    assert result.exit_code == 0
    assert len(base64.b64decode(result.output.strip(), validate=True)) == 32


def test_set_list_unset_through_the_cli_never_print_the_value(
    workspace_root: Path, restore_workspace_env: None, clean_env: pytest.MonkeyPatch
) -> None:
    outputs = []
    result = _glue(workspace_root, "secrets", "set", "shop", "crm", "client_secret", input=SECRET)
    outputs.append(result.output)
    assert (
        result.exit_code == 0 and "stored app secret 'client_secret' of shop/crm" in result.output
    )
    clean_env.setenv("LEDGER_TOKEN_VAR", SECRET + "-env")
    result = _glue(
        workspace_root,
        "secrets",
        "set",
        "shop",
        "ledger",
        "api_token",
        "--from-env",
        "LEDGER_TOKEN_VAR",
    )
    outputs.append(result.output)
    assert result.exit_code == 0, result.output
    result = _glue(
        workspace_root,
        "secrets",
        "set",
        "shop",
        "files",
        "token",
        "--stdin",
        input=SECRET + "-in\n",
    )
    outputs.append(result.output)
    assert result.exit_code == 0, result.output
    result = _glue(workspace_root, "secrets", "list")
    outputs.append(result.output)
    assert result.output.splitlines() == [
        "shop/crm  client_secret",
        "shop/files  token",
        "shop/ledger  api_token",
    ]
    with open_workspace(workspace_root) as opened:
        assert app_secret(opened, "shop", "crm", "client_secret") == SECRET
        assert app_secret(opened, "shop", "ledger", "api_token") == SECRET + "-env"
        assert app_secret(opened, "shop", "files", "token") == SECRET + "-in"
    result = _glue(workspace_root, "secrets", "unset", "shop", "files", "token")
    outputs.append(result.output)
    assert result.exit_code == 0 and "removed app secret 'token'" in result.output
    result = _glue(workspace_root, "secrets", "list", "--json")
    outputs.append(result.output)
    assert '"name": "token"' not in result.output and '"name": "api_token"' in result.output
    assert_no_secrets([SECRET], texts=outputs, folders=[workspace_root])


def test_set_for_an_unknown_connector_is_a_named_error_before_asking(
    workspace_root: Path, restore_workspace_env: None
) -> None:
    result = _glue(workspace_root, "secrets", "set", "shop", "crn", "client_secret", input=SECRET)
    assert result.exit_code == 2
    assert "unknown connector 'crn'" in result.output and "did you mean 'crm'" in result.output
    assert "not shown" not in result.output  # refused before the prompt
    result = _glue(workspace_root, "secrets", "set", "shop", "crm", "x", "--from-env", "NOPE_VAR")
    assert result.exit_code == 2 and "NOPE_VAR is not set" in result.output
    assert _glue(workspace_root, "secrets", "list").output == "no app secrets set\n"


def test_the_prompt_does_not_echo(workspace_root: Path) -> None:
    """A real terminal-less process: the value comes on stdin to the prompt, never echoed."""
    env = {**os.environ, "GLUE_WORKSPACE": str(workspace_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "glue_runtime", "secrets", "set", "shop", "crm", "client_secret"],
        input=SECRET + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "client_secret (not shown)" in proc.stderr
    assert_no_secrets([SECRET], texts=[proc.stdout, proc.stderr], folders=[workspace_root])
    with open_workspace(workspace_root) as opened:
        assert app_secret(opened, "shop", "crm", "client_secret") == SECRET


def test_rotate_key_and_keys_through_the_cli(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, restore_workspace_env: None
) -> None:
    clean_env.chdir(tmp_path)
    assert CliRunner().invoke(main, ["init", "ws"]).exit_code == 0
    root = tmp_path / "ws"
    assert _glue(root, "secrets", "set", "demo", "files", "token", input=SECRET).exit_code == 0
    old = read_key_file(root / ".glue" / "secret.key")
    result = _glue(root, "secrets", "rotate-key")
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 value(s): 1 app secrets" in result.output
    assert "kept; drop them with" in result.output
    keys = read_key_file(root / ".glue" / "secret.key")
    assert keys[1:] == old
    listing = _glue(root, "secrets", "keys").output
    assert "current  1 value(s)" in listing and "old      0 value(s)" in listing
    result = _glue(root, "secrets", "rotate-key", "--no-new-key", "--drop-old")
    assert result.exit_code == 0 and "dropped old key(s)" in result.output
    assert read_key_file(root / ".glue" / "secret.key") == keys[:1]
    outputs = [listing, result.output]
    assert_no_secrets([SECRET, *keys], texts=outputs, folders=[root])


def test_rotate_key_with_the_env_key_prints_the_value_to_set(
    workspace_root: Path,
    key_env: str,
    clean_env: pytest.MonkeyPatch,
    restore_workspace_env: None,
) -> None:
    result = _glue(workspace_root, "secrets", "rotate-key")
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[0]
    assert line.startswith(f"set {ENV_KEY}=") and line.endswith(f",{key_env}")
    both = line.removeprefix(f"set {ENV_KEY}=")
    new = both.split(",")[0]
    clean_env.setenv(ENV_KEY, both)
    result = _glue(workspace_root, "secrets", "rotate-key", "--no-new-key", "--drop-old")
    assert result.exit_code == 0, result.output
    assert f"set {ENV_KEY}={new}\n" in result.output and "dropped old key(s)" in result.output


def test_without_a_key_the_secret_commands_refuse(
    workspace_root: Path, clean_env: pytest.MonkeyPatch, restore_workspace_env: None
) -> None:
    clean_env.delenv(ENV_KEY)
    result = _glue(workspace_root, "secrets", "set", "shop", "crm", "client_secret", input=SECRET)
    assert result.exit_code == 2 and "no secret key" in result.output
    result = _glue(workspace_root, "secrets", "rotate-key")
    assert result.exit_code == 2 and "no secret key" in result.output
    result = _glue(workspace_root, "secrets", "keys")
    assert result.exit_code == 2 and "no secret key" in result.output


def test_keys_names_values_under_a_key_the_keyring_lacks(
    workspace_root: Path, clean_env: pytest.MonkeyPatch, restore_workspace_env: None
) -> None:
    assert _glue(workspace_root, "secrets", "set", "shop", "crm", "client_secret", input=SECRET)
    clean_env.setenv(ENV_KEY, new_key())
    result = _glue(workspace_root, "secrets", "keys")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"keys from {ENV_KEY}:"
    assert lines[1].endswith("current  0 value(s)")
    assert lines[2].endswith("NOT IN THE KEYRING  1 value(s)")
