"""Fixtures of the trigger tests: a workspace whose flow ``shop`` has triggers of every
scheme, served over real HTTP on 127.0.0.1 (uvicorn in a thread over create_app) with a clock
the test sets, and helpers that sign webhooks the way each provider does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from store_test_helpers import KINDS, fresh_pg_url
from workspace.conftest_run import GLUE_YML, ROTATING_TAP, Workspace, make_workspace

from glue_runtime.service import signing
from glue_runtime.service.app import create_app
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.triggers import records
from glue_runtime.service.triggers.settings import trigger
from glue_runtime.workspace.open import open_workspace

T0 = 1_800_000_000.0
PUBLIC_URL = "https://hooks.example.test/base"

TRIGGERS = """
    triggers:
      stripe:
        connector: files
        scheme: stripe
        tenant: {from: body, path: data.object.metadata.tenant}
        streams: {path: type, map: {order.created: [orders]}, unmapped: ignore}
        debounce: 5s
      github:
        connector: files
        scheme: github
      glue:
        connector: files
        scheme: glue
        tenant: {from: body, path: tenant}
        debounce: 0
      shopify:
        connector: files
        scheme: shopify
        tenant: {from: body, path: tenant}
      slack:
        connector: files
        scheme: slack
        tenant: {from: body, path: team_id}
      hubspot:
        connector: files
        scheme: hubspot
        tenant: {from: body, path: "*.portalId"}
        streams: {path: "*.subscriptionType", map: {contact.creation: [orders]}}
"""
SERVER = f"""
server:
  public_url: {PUBLIC_URL}
  max_body: 4096
"""


class Clock:
    """The service's clock: tests move it instead of sleeping."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(ctx: ServiceContext) -> Iterator[str]:
    """create_app(ctx) under uvicorn on a free 127.0.0.1 port, in a thread; its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        from glue_test_helpers import wait_until

        wait_until(lambda: server.started, "uvicorn to start", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def write_glue_yml(root: Path, triggers: str = TRIGGERS, server: str = SERVER) -> None:
    text = (GLUE_YML % {"rotating": ROTATING_TAP}).replace(
        "    etl: etl.py\n  mapped:", "    etl: etl.py\n" + triggers + "  mapped:"
    )
    root.joinpath("glue.yml").write_text(text + server)


@dataclass
class Hooks:
    """A served workspace with triggers; ``secrets`` the secret set for each trigger."""

    ws: Workspace
    base: str
    clock: Clock
    ctx: ServiceContext
    secrets: dict[str, str] = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, name: str, token: str | None = None) -> str:
        """The trigger's path under the server (and under the public URL, for HubSpot)."""
        t = trigger(self.ctx.opened.workspace, "shop", name)
        path = f"/v1/hooks/{records.endpoint_id(self.ws.store, t)}"
        return path + (f"/{token}" if token else "")

    def post(
        self, name: str, body: bytes, headers: dict[str, str], token: str | None = None
    ) -> requests.Response:
        return self.http.post(self.base + self.url(name, token), data=body, headers=headers)

    def send(self, name: str, event: Any, token: str | None = None, **kw: Any) -> requests.Response:
        """``event`` as JSON, signed as trigger ``name``'s scheme signs it."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = sign(
            name, self.secrets[name], body, self.clock.now, PUBLIC_URL + self.url(name, token)
        )
        headers.update(kw.pop("headers", {}))
        return self.post(name, body, headers, token)

    def jobs(self, tenant: str | None = None) -> list[Any]:
        from glue_runtime.jobs.records import list_jobs

        return list_jobs(self.ws.store, tenant=tenant)


def sign(scheme: str, secret: str, body: bytes, now: float, url: str) -> dict[str, str]:
    """The headers a provider of ``scheme`` sends with ``body`` at ``now``."""
    t = int(now)
    mac = lambda message: hmac.new(secret.encode(), message, hashlib.sha256)  # noqa: E731
    if scheme == "stripe":
        return {"Stripe-Signature": signing.sign(secret, body, t)}
    if scheme == "glue":
        return {"Glue-Signature": signing.sign(secret, body, t)}
    if scheme == "github":
        return {"X-Hub-Signature-256": "sha256=" + mac(body).hexdigest()}
    if scheme == "shopify":
        return {"X-Shopify-Hmac-Sha256": base64.b64encode(mac(body).digest()).decode()}
    if scheme == "slack":
        sig = mac(b"v0:%d:" % t + body).hexdigest()
        return {"X-Slack-Signature": f"v0={sig}", "X-Slack-Request-Timestamp": str(t)}
    if scheme == "hubspot":
        ms = str(t * 1000)
        digest = mac(b"POST" + url.encode() + body + ms.encode()).digest()
        return {
            "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
            "X-HubSpot-Request-Timestamp": ms,
        }
    raise AssertionError(scheme)


@contextmanager
def hooks_workspace(
    root: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None = None
) -> Iterator[Hooks]:
    """conftest_run's workspace (tenants acme and globex linked to shop/files) with the
    triggers above, each with a secret set, served with a test clock."""
    ws = make_workspace(root, store_url)
    write_glue_yml(root)
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)
    opened = open_workspace(root)
    clock = Clock()
    ctx = ServiceContext(opened, now=clock)
    secrets = {}
    for name in ("stripe", "github", "glue", "shopify", "slack", "hubspot"):
        secrets[name] = f"whsec_{name}_" + "x" * 24
        records.put_secret(
            ws.store, trigger(opened.workspace, "shop", name), secrets[name], origin="set"
        )
    try:
        with serving(ctx) as base:
            yield Hooks(ws, base, clock, ctx, secrets)
    finally:
        opened.close()
        ws.store.close()


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    """A served workspace with triggers on SQLite."""
    with hooks_workspace(tmp_path / "ws", monkeypatch) as served:
        yield served


@pytest.fixture(params=KINDS)
def any_hooks(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Hooks]:
    """A served workspace with triggers, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        with hooks_workspace(tmp_path / "ws", monkeypatch) as served:
            yield served
    else:
        with fresh_pg_url() as url, hooks_workspace(tmp_path / "ws", monkeypatch, url) as served:
            yield served
