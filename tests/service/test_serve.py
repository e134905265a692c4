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
    callback = served.api.get("/v1/oauth/callback", params={"state": "st4te-x", "code": "c0de-x9"})
    assert callback.status_code == 400
    assert stop_served(served) == 0
    log = served.output()
    assert "Application shutdown complete" in log
    assert "GET /v1/oauth/callback HTTP" in log  # the access log line, without its query
    assert "c0de-x9" not in log and "st4te-x" not in log


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


def test_a_bug_answers_500_in_the_error_shape_without_its_details(
    app_server: AppServer, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("internal detail: password=hunter2-xyz")

    app_server.app.add_api_route("/v1/boom", boom)
    with caplog.at_level("ERROR", logger="glue_runtime.service"):
        answer = app_server.client(None).get("/v1/boom")
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": "internal", "message": "internal error (see the server's log)"}
    }
    assert "hunter2" not in answer.text
    assert "internal error on GET /v1/boom" in caplog.text  # the server's log has the traceback


def test_glue_errors_map_to_their_status_and_code() -> None:
    from glue_runtime.errors import ConfigError, CredentialError, StoreError, UsageError
    from glue_runtime.jobs.api import JobBusy
    from glue_runtime.jobs.lifecycle import JobEnded
    from glue_runtime.jobs.records import LinkPaused
    from glue_runtime.service.errors import glue_status

    cases = {
        ConfigError("unknown tenant 'x' in the store"): (404, "not_found"),
        ConfigError("no job 'abc'"): (404, "not_found"),
        ConfigError("tenant 'a' has no linked source 'b' in flow 'c'"): (404, "not_found"),
        StoreError("tenant 'a' already exists"): (409, "conflict"),
        LinkPaused("the link is paused"): (409, "link_paused"),
        JobEnded("job 'a' has already ended"): (409, "job_ended"),
        JobBusy("a job is running"): (409, "job_busy"),
        UsageError("missing setting api_key"): (400, "bad_request"),
        ConfigError("streams must be a list"): (422, "invalid"),
        CredentialError("the provider did not authorise"): (400, "credential_error"),
        StoreError("the store is unreachable"): (503, "store_error"),
    }
    for error, expected in cases.items():
        assert glue_status(error) == expected, error


def test_a_port_in_use_is_a_named_error(workspace_dir: Workspace) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = workspace_dir.glue("serve", "--port", str(port))
    assert result.code == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
