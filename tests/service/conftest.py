"""Fixtures of the service tests: a workspace, service keys, and the server running for real.

- ``workspace_dir``: the workspace of tests/workspace/conftest_run.py (flow ``shop`` with the
  bundled files tap and sqlite target; tenants ``acme`` and ``globex``, each with a read link
  ``files``), its environment set in os.environ. Its store is SQLite; override the
  ``service_store_url`` fixture (e.g. with ``store_url`` of tests/workspace/conftest.py) for
  PostgreSQL.
- ``admin_key``, ``tenant_key`` (acme), ``other_tenant_key`` (globex): service keys.
- ``app_server``: uvicorn in a thread over ``create_app`` (no background parts unless a test
  passes them through ``app_server_parts``); fast, for most route tests. ``.ctx`` is the
  ServiceContext: set ``ctx.now`` to control the clock.
- ``served``: a real ``glue serve`` subprocess on a free 127.0.0.1 port, waited for on
  /healthz; killed at teardown. ``served_args`` adds command-line options.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from glue_test_helpers import wait_until
from workspace.conftest_run import Workspace, make_workspace

START_S = 60.0  # how long a server may take to answer /healthz on a loaded machine


@dataclass
class Api:
    """requests against one server with one service key (or none)."""

    base: str
    key: str | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw["headers"] = self.headers(kw.get("headers"))
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def as_key(self, key: str | None) -> Api:
        return Api(self.base, key, self.session)


@pytest.fixture
def service_store_url() -> str | None:
    """The store of ``workspace_dir``: None for SQLite in the workspace (override for PG)."""
    return None


@pytest.fixture
def workspace_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_store_url: str | None
) -> Iterator[Workspace]:
    """The test workspace (see the module's docstring), its environment in os.environ."""
    ws = make_workspace(tmp_path / "ws", service_store_url)
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)
    yield ws
    ws.store.close()


def _key(ws: Workspace, name: str, tenant: str | None = None) -> str:
    from glue_runtime.service.keys import create_key

    return create_key(ws.store, name, tenant)[1]


@pytest.fixture
def admin_key(workspace_dir: Workspace) -> str:
    return _key(workspace_dir, "admin-test")


@pytest.fixture
def tenant_key(workspace_dir: Workspace) -> str:
    """A key scoped to tenant acme."""
    return _key(workspace_dir, "acme-test", "acme")


@pytest.fixture
def other_tenant_key(workspace_dir: Workspace) -> str:
    """A key scoped to tenant globex."""
    return _key(workspace_dir, "globex-test", "globex")


@dataclass
class AppServer:
    base: str
    app: Any
    ctx: Any
    server: Any
    api: Api

    def client(self, key: str | None) -> Api:
        return self.api.as_key(key)


@pytest.fixture
def app_server_parts() -> list[tuple[str, Any]]:
    """Background parts the ``app_server`` lifespan starts (none by default)."""
    return []


@contextlib.contextmanager
def serve_app(
    root: Path, parts: list[tuple[str, Any]] | None = None, settings: Any = None
) -> Iterator[AppServer]:
    """uvicorn in a thread over create_app for the workspace at ``root``, on a free port."""
    import uvicorn

    from glue_runtime.service.app import create_app
    from glue_runtime.service.context import ServiceContext
    from glue_runtime.workspace.open import open_workspace

    opened = open_workspace(root)
    ctx = ServiceContext(opened)
    app = create_app(ctx, parts=parts or [], grace_s=5)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "uvicorn to start", START_S)
    assert server.started, "uvicorn did not start (see the log above)"
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    if settings is not None:
        ctx.extra["settings"] = settings(base) if callable(settings) else settings
    try:
        yield AppServer(base, app, ctx, server, Api(base))
    finally:
        server.should_exit = True
        thread.join(30)
        opened.close()


@pytest.fixture
def app_server(
    workspace_dir: Workspace, app_server_parts: list[tuple[str, Any]]
) -> Iterator[AppServer]:
    """uvicorn in a thread over create_app for ``workspace_dir`` on a free port."""
    with serve_app(workspace_dir.root, app_server_parts) as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    api: Api

    def client(self, key: str | None) -> Api:
        return self.api.as_key(key)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _healthy(base: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        return True  # exited: stop waiting, the caller reports it
    try:
        return requests.get(base + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_served(ws: Workspace, log: Path, *args: str) -> Served:
    """Start ``glue serve`` for ``ws`` on a free port and wait until /healthz answers."""
    port = free_port()
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", "serve", "--port", str(port), *args],
        cwd=ws.root,
        env={**os.environ, **ws.env},
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(base, process), "glue serve to answer /healthz", START_S)
    if process.poll() is not None:
        raise AssertionError(f"glue serve exited {process.returncode}:\n{log.read_text()}")
    return Served(base, process, log, Api(base))


def stop_served(served: Served, timeout: float = 60) -> int:
    """SIGTERM, then wait; kill -9 if it does not stop in ``timeout``. Returns its exit code."""
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(10)
    return served.process.returncode


@pytest.fixture
def served_args() -> list[str]:
    """Extra options of the ``served`` server (override in a module)."""
    return []


@pytest.fixture
def served(workspace_dir: Workspace, tmp_path: Path, served_args: list[str]) -> Iterator[Served]:
    """A real ``glue serve`` subprocess over ``workspace_dir``; stopped at teardown."""
    running = start_served(workspace_dir, tmp_path / "serve.log", *served_args)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


def wait_status(api: Api, job_id: str, statuses: set[str], timeout: float = 120) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until its status is one of ``statuses``."""

    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/v1/jobs/{job_id}").json()
        return job if job.get("status") in statuses else None

    found: dict[str, Any] = wait_until(check, f"job {job_id} to be {sorted(statuses)}", timeout)
    return found
