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
