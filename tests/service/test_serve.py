"""`glue serve` as a real process: it answers, and stops on SIGTERM; /healthz; error shape."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from workspace.conftest_run import Workspace

from service.conftest import AppServer, Served, start_served, stop_served


def test_glue_serve_answers_healthz_and_stops_on_sigterm(served: Served) -> None:
    assert served.api.get("/healthz").json() == {"status": "ok", "store": "ok"}
    assert served.api.get("/openapi.json").json()["info"]["title"] == "glue_runtime"
    assert stop_served(served) == 0
    assert "Shutting down" in served.output() or "shutdown" in served.output().lower()


def test_glue_serve_stops_on_ctrl_c(workspace_dir: Workspace, tmp_path: Path) -> None:
    running = start_served(workspace_dir, tmp_path / "serve.log", "--no-executor")
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(60) == 0


def test_glue_serve_refuses_a_bad_server_block(workspace_dir: Workspace) -> None:
    yml = workspace_dir.root / "glue.yml"
    yml.write_text(yml.read_text() + "\nserver: {port: 99999}\n")
    result = workspace_dir.glue("serve")
    assert result.code == 2, result.stderr
    assert "server" in result.stderr and "port" in result.stderr


def test_glue_serve_refuses_a_bad_grace(workspace_dir: Workspace) -> None:
    result = workspace_dir.glue("serve", "--grace", "soon")
    assert result.code == 2, result.stderr
    assert "--grace" in result.stderr


def test_a_request_without_a_key_gets_401_and_the_error_shape(app_server: AppServer) -> None:
    answer = app_server.api.get("/v1/jobs")
    assert answer.status_code == 401
    assert answer.json() == {
        "error": {"code": "unauthorized", "message": "a valid service key is required"}
    }
    assert answer.headers["www-authenticate"] == "Bearer"


def test_an_unknown_route_gets_404_in_the_error_shape(app_server: AppServer) -> None:
    answer = app_server.api.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/healthz"])
def test_healthz_needs_no_key(app_server: AppServer, path: str) -> None:
    assert app_server.api.get(path).status_code == 200


def test_a_body_over_max_body_gets_413_and_changes_nothing(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    from glue_runtime.service.settings import ServerSettings

    app_server.ctx.extra["settings"] = ServerSettings(max_body=200)
    client = app_server.client(admin_key)
    big = client.post("/v1/tenants", json={"id": "initech", "name": "x" * 300})
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"
    assert [t.id for t in workspace_dir.store.tenants()] == ["acme", "globex"]
    assert client.post("/v1/tenants", json={"id": "initech"}).status_code == 201


def test_the_access_log_leaves_query_strings_out() -> None:
    import logging

    from glue_runtime.service.server import _NoQuery

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:5", "GET", "/v1/oauth/callback?code=s3cr3t&state=abc", "1.1", 200)
    assert _NoQuery().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "/v1/oauth/callback" in record.getMessage()


def test_without_the_server_extra_glue_serve_names_the_install_command(
    workspace_dir: Workspace,
) -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['uvicorn'] = None\n"  # as if uvicorn were not installed
        "from glue_runtime.cli import main\n"
        "main(['serve'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workspace_dir.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'glue-runtime[server]'" in done.stderr
    assert "uvicorn is not installed" in done.stderr
    assert "Traceback" not in done.stderr
