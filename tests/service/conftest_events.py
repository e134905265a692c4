"""Fixtures of the outbound-events tests: a real HTTP receiver on 127.0.0.1 that records what
it gets and can be told to fail or hang, and a workspace whose glue.yml sends events to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import wait_until
from store_test_helpers import KINDS, fresh_store_url
from workspace.conftest_run import Workspace, make_workspace

from glue_runtime.service.context import ServiceContext
from glue_runtime.workspace.open import Opened, open_workspace

SECRET = "whsec_test-secret-of-the-receiver-0123456789"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What a receiver got, and how it answers: ``codes`` (consumed one per request, then
    200), or hanging until ``release`` is set while ``hang`` is."""

    url: str = ""
    got: list[Received] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, n: int) -> list[Received]:
        wait_until(lambda: len(self.got) >= n, f"{n} request(s) at the receiver")
        return self.got


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if rx.hang:
                rx.hanging.set()
                rx.release.wait(120)
            with rx.lock:
                rx.got.append(Received(self.path, dict(self.headers.items()), body))
                code = rx.codes.pop(0) if rx.codes else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Two receivers (``backend`` and ``other`` in the workspace's glue.yml)."""
    made = []
    for _ in range(2):
        rx = Receiver()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
        server.daemon_threads = True
        rx.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append((rx, server))
    yield [rx for rx, _ in made]
    for rx, server in made:
        rx.release.set()
        server.shutdown()
        server.server_close()


WEBHOOKS = """
webhooks:
  backend:
    url: %(backend)s
    secret: ${BACKEND_SECRET}
    timeout: 150s
  other:
    url: %(other)s
    events: [job.failed, link.paused]
    tenants: [acme]
    timeout: 2s
"""


@dataclass
class EventsWorkspace:
    ws: Workspace
    opened: Opened
    backend: Receiver
    other: Receiver
    clock: list[float]

    def ctx(self) -> ServiceContext:
        return ServiceContext(self.opened, now=lambda: self.clock[0])


def _events_workspace(
    root: Path, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch, url: str | None
) -> EventsWorkspace:
    ws = make_workspace(root, url)
    with (root / "glue.yml").open("a") as f:
        f.write(WEBHOOKS % {"backend": receivers[0].url, "other": receivers[1].url})
    for name, value in {**ws.env, "BACKEND_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    opened = open_workspace(root)
    return EventsWorkspace(ws, opened, receivers[0], receivers[1], [1_800_000_000.0])


@pytest.fixture
def events_ws(
    tmp_path: Path, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> Iterator[EventsWorkspace]:
    """The run tests' workspace (tenants acme and globex linked to flow shop) with endpoint
    ``backend`` (every event, secret from the environment) and ``other`` (acme's job.failed
    and link.paused, a generated secret), on SQLite; a clock the test moves."""
    ew = _events_workspace(tmp_path / "ws", receivers, monkeypatch, None)
    yield ew
    ew.opened.close()
    ew.ws.store.close()


@pytest.fixture(params=KINDS)
def any_events_ws(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[EventsWorkspace]:
    """``events_ws`` on SQLite, then on PostgreSQL."""
    with fresh_store_url(request.param, tmp_path) as url:
        ew = _events_workspace(tmp_path / "ws", receivers, monkeypatch, url)
        yield ew
        ew.opened.close()
        ew.ws.store.close()
