"""Helpers for the tenants and links tests: a workspace on disk with a real store, a small
revocation endpoint on 127.0.0.1, the CLI in-process or on a pseudo-terminal, row counts."""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import os
import pty
import select
import subprocess
import sys
import termios
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result
from glue_test_helpers import SINGER
from store_test_helpers import KINDS, fresh_pg_url

from glue_runtime.cli import main
from glue_runtime.workspace import store as wstore
from glue_runtime.workspace.crypto import new_key
from glue_runtime.workspace.open import Opened, open_workspace

KEYED_TAP = str(SINGER / "keyed_tap.py")
GOOD_KEY = "good-k3y-7f1d9a2c5e"
CLIENT_SECRET_ENV = "GLUE_TEST_LINKS_CLIENT_SECRET"  # a secret the tests look for in every output
COUNTED = (
    "tenants",
    "links",
    "catalogs",
    "fieldmap_overrides",
    "oauth_states",
    "link_tokens",
    "states",
    "leases",
)


class RevocationServer:
    """An RFC 7009 revocation endpoint that records what it was asked to revoke."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.revoked: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                outer.revoked.append(dict(urllib.parse.parse_qsl(body)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/revoke"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def tokens(self) -> set[str]:
        return {r.get("token", "") for r in self.revoked}


def glue_yml(revoke_url: str) -> dict[str, Any]:
    """Two flows: `shop` (an API-key source, an OAuth source, a target with no auth) and
    `crm` (the same API-key tap under another id, with an explicit settings list)."""
    oauth = {
        "token_url": revoke_url.replace("/revoke", "/token"),
        "authorize_url": revoke_url.replace("/revoke", "/authorize"),
        "revoke_url": revoke_url,
        "client_id": "app-client",
        "client_secret": "${" + CLIENT_SECRET_ENV + "}",  # never in clear in glue.yml
        "scope": "read",
        "redirect_uri": "http://127.0.0.1:8765/callback",
    }
    return {
        "flows": {
            "shop": {
                "sources": {
                    "keyed": {"connector": KEYED_TAP, "auth": "api_key"},
                    "crm": {"connector": KEYED_TAP, "auth": "oauth2", "oauth": oauth},
                    "crm_stored": {  # its client secret is an app secret in the store
                        "connector": KEYED_TAP,
                        "auth": "oauth2",
                        "oauth": {k: v for k, v in oauth.items() if k != "client_secret"},
                    },
                },
                "targets": {
                    "warehouse": {"connector": "sqlite", "config": {"path": "{tenant}.db"}},
                    "outbox": {"connector": KEYED_TAP, "auth": "api_key"},  # a write link
                },
            },
            "sales": {
                "sources": {
                    "books": {
                        "connector": KEYED_TAP,
                        "auth": "api_key",
                        "config": {"account": "acct-{tenant}"},
                    },
                    "counter": {  # its --about lists no discover capability
                        "connector": str(SINGER / "about_counter_tap.py"),
                        "auth": "api_key",
                    },
                    "open": {  # no auth: the app config has all it needs
                        "connector": KEYED_TAP,
                        "config": {"account": "{tenant}", "api_key": "good-app-wide"},
                    },
                    "regional": {  # region is secret for this app only (not by schema or name)
                        "connector": KEYED_TAP,
                        "auth": "api_key",
                        "settings": ["account", "api_key", "region"],
                        "secret_settings": ["region"],
                    },
                    "listed": {
                        "connector": KEYED_TAP,
                        "auth": "api_key",
                        "settings": ["account", "token_id", "region"],
                        "secret_settings": ["token_id"],
                        "config": {"api_key": "good-{link.token_id}"},
                    },
                },
                "targets": {},
            },
        }
    }


@dataclass
class Space:
    """A workspace folder with a created store, and ways to drive it."""

    root: Path
    env: dict[str, str]
    revocation: RevocationServer
    outputs: list[str] = field(default_factory=list)  # every CLI output, for the secret grep

    def cli(
        self, *args: str, input: str | None = None, env: dict[str, str | None] | None = None
    ) -> Result:
        """`glue --workspace ROOT ARGS` in-process (stdin is not a terminal); ``env`` values
        override the workspace's (None unsets one)."""
        result = CliRunner().invoke(
            main,
            ["--workspace", str(self.root), *args],
            input=input,
            # GLUE_WORKSPACE is restored after: main sets it
            env={**self.env, "GLUE_WORKSPACE": str(self.root), **(env or {})},
        )
        self.outputs.append(result.output + (result.stderr if result.stderr_bytes else ""))
        return result

    def open(self) -> Opened:
        return open_workspace(self.root)

    def counts(self, tenant: str) -> dict[str, int]:
        """Rows of each table that belong to ``tenant``."""
        with self.open() as opened, opened.store.engine.connect() as conn:
            link_ids = set(
                conn.execute(sa.select(wstore.links.c.id).where(wstore.links.c.tenant == tenant))
                .scalars()
                .all()
            )
            found = {}
            for name in COUNTED:
                table = wstore.metadata.tables[name]
                if name == "tenants":
                    where = table.c.id == tenant
                elif name in ("states", "leases"):
                    keys = [f"shop/{tenant}/keyed", f"shop/{tenant}/crm", f"sales/{tenant}/books"]
                    keys += [f"link-refresh/{i}" for i in link_ids]
                    where = table.c.key.in_(keys)
                else:
                    where = table.c.tenant == tenant
                found[name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(where)
                ).scalar_one()
        return found


@pytest.fixture(params=["sqlite"])
def space(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Space]:
    yield from _space(request.param, tmp_path, monkeypatch)


@pytest.fixture(params=KINDS)
def any_space(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Space]:
    """The same workspace on SQLite and on PostgreSQL (a schema of its own)."""
    yield from _space(request.param, tmp_path, monkeypatch)


def _space(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Space]:
    root = tmp_path / "ws"
    (root / ".glue").mkdir(parents=True)
    revocation = RevocationServer()
    (root / "glue.yml").write_text(yaml.safe_dump(glue_yml(revocation.url)))
    env = {"GLUE_SECRET_KEY": new_key(), CLIENT_SECRET_ENV: "app-client-secret-123"}
    monkeypatch.delenv("GLUE_STORE_URL", raising=False)
    with contextlib.ExitStack() as stack:
        stack.callback(revocation.close)
        if kind == "postgresql":  # else SQLite in the workspace's .glue/ (the default)
            env["GLUE_STORE_URL"] = stack.enter_context(fresh_pg_url())
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with open_workspace(root, check=False) as opened:
            opened.store.create()
        yield Space(root, env, revocation)


def run_on_terminal(
    args: list[str], answers: list[tuple[str, str]], *, env: dict[str, str], timeout: float = 60
) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (its controlling terminal); for each (prompt, answer)
    wait until the prompt is shown, then type the answer. Returns the exit code and all the
    terminal showed (typed text is echoed unless the program turned echo off)."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k != "CI"} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    pending = list(answers)

    def read_some() -> bool:
        nonlocal shown
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            return True
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the program closed the terminal
            return False
        shown += chunk
        return bool(chunk)

    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0].encode() in shown.rsplit(b"<typed>", 1)[-1]:
                os.write(master, pending.pop(0)[1].encode() + b"\n")
                shown += b"\n<typed>\n"  # marks where an answer went, so one prompt matches once
            if not read_some() and proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, shown.decode(errors="replace")


def raw_rows(root: Path) -> str:
    """Everything the store holds, as text (to check a secret is not kept in clear)."""
    with open_workspace(root) as opened, opened.store.engine.connect() as conn:
        return "\n".join(
            repr(row)
            for table in wstore.metadata.sorted_tables
            for row in conn.execute(sa.select(table))
        )
