"""`glue link` for OAuth2 connectors, through the CLI as a user runs it, against the real test
provider: the pasted redirect URL (--no-browser), the callback listener, client credentials,
then listing, unlinking (revoked at the provider) and removing the tenant."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import requests
from click.testing import CliRunner

from glue_runtime.cli import main
from glue_runtime.testing.oauth_provider import CLIENT_SECRET, OAuthProvider
from glue_runtime.workspace.open import open_workspace
from workspace.conftest_oauth import (
    FLOW,
    MACHINE,
    SOURCE,
    provider,
    redirect_location,
    redirect_uri,
    ws_root,
)
from workspace.secret_sweep import assert_no_secrets

__all__ = ["provider", "redirect_uri", "ws_root"]  # fixtures

WAIT_S = 60.0


class LinkProcess:
    """`glue link ... ` as a process whose output lines a test waits for."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "glue_runtime", "--workspace", str(root), "link", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def url(self) -> str:
        """The authorize URL, once printed."""
        while True:
            line = self.lines.get(timeout=WAIT_S)
            self.seen.append(line)
            if "/authorize?" in line:
                return line.split()[-1]

    def finish(self, pasted: str | None = None) -> tuple[int, str]:
        assert self.proc.stdin is not None
        if pasted is not None:
            self.proc.stdin.write(pasted + "\n")
            self.proc.stdin.flush()
        code = self.proc.wait(timeout=WAIT_S)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)


def _cli(root: Path, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["--workspace", str(root), *args], env={"GLUE_WORKSPACE": str(root)}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_oauth_link_with_a_pasted_redirect_url_then_unlink_revokes(
    ws_root: Path, provider: OAuthProvider
):
    link = LinkProcess(ws_root, FLOW, SOURCE, "--tenant", "acme", "--no-browser", "--timeout", "30")
    code, shown = link.finish(pasted=redirect_location(link.url()))
    assert code == 0, shown
    assert f"linked tenant 'acme' to {FLOW}/{SOURCE} (oauth2): status ok" in shown
    with open_workspace(ws_root) as opened:
        stored = opened.store.link(FLOW, "acme", SOURCE)
        tokens = opened.store.credentials(stored)[1]
    assert stored.auth == "oauth2" and tokens["access_token"] and tokens["refresh_token"]
    outputs = [shown, _cli(ws_root, "links", "list"), _cli(ws_root, "tenants", "show", "acme")]
    assert "access_token=****" in outputs[1]
    outputs.append(_cli(ws_root, "unlink", FLOW, SOURCE, "--tenant", "acme", "--yes"))
    assert "revoked its tokens at the provider" in outputs[-1]
    assert provider.state.revoked == ["refresh_token", "access_token"]
    assert_no_secrets(
        [tokens["access_token"], tokens["refresh_token"], CLIENT_SECRET],
        texts=outputs,
        folders=[ws_root],
    )


def test_oauth_link_through_the_callback_listener(ws_root: Path, provider: OAuthProvider):
    # BROWSER=true: the browser "opened" is /bin/true; the test is the tenant's browser
    link = LinkProcess(
        ws_root, FLOW, SOURCE, "--tenant", "globex", "--timeout", "30", env={"BROWSER": "true"}
    )
    page = requests.get(link.url(), timeout=WAIT_S)  # the provider redirects to the listener
    assert "You can close this window" in page.text
    code, shown = link.finish()
    assert code == 0, shown
    assert "linked tenant 'globex'" in shown
    removed = _cli(ws_root, "tenants", "remove", "globex", "--yes")
    assert "links: 1" in removed and f"revoked the tokens of {FLOW}/{SOURCE}" in removed


def test_client_credentials_link_and_oauth_refuses_config(
    ws_root: Path, provider: OAuthProvider, tmp_path: Path
):
    out = _cli(ws_root, "link", FLOW, MACHINE, "--tenant", "acme")
    assert f"linked tenant 'acme' to {FLOW}/{MACHINE} (oauth2): status ok" in out
    assert provider.calls("client_credentials") == 1
    (tmp_path / "s.json").write_text("{}")
    result = CliRunner().invoke(
        main,
        [
            "--workspace",
            str(ws_root),
            "link",
            FLOW,
            SOURCE,
            "--tenant",
            "acme",
            "--config",
            str(tmp_path / "s.json"),
        ],
        env={"GLUE_WORKSPACE": str(ws_root)},
    )
    assert result.exit_code == 2 and "--config does not apply" in result.output
