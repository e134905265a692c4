"""A job started over HTTP runs and its data lands: run by `glue jobs exec` (what the
executor spawns), and by the executor of a real `glue serve`."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace.conftest_run import Workspace, rows

from service.conftest import (
    AppServer,
    add_keyed_flow,
    serve_app,
    start_served,
    stop_served,
    wait_status,
)

START = "/v1/flows/shop/tenants/acme/jobs"


def _landed(ws: Workspace) -> list[str]:
    return [r["name"] for r in rows(ws.root / "out" / "acme.db")]


@pytest.mark.slow
def test_a_job_started_over_http_runs_with_jobs_exec_and_its_data_lands(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    pytest.importorskip("glue_runtime.jobs.execute", reason="the jobs layer's execute")
    client = app_server.client(tenant_key)
    (job,) = client.post(START, json={"connector": "files"}).json()["jobs"]
    done = workspace_dir.glue("jobs", "exec", "--", job["id"])  # ids may start with -
    assert done.code == 0, done.stderr
    ended = client.get(f"/v1/jobs/{job['id']}").json()
    assert ended["status"] == "succeeded", ended
    assert ended["counts"]
    assert _landed(workspace_dir) == ["acme-1", "acme-2"]
    logs = client.get(f"/v1/jobs/{job['id']}/logs").json()["lines"]
    assert logs, "the job's log lines are readable over HTTP"


@pytest.mark.slow
def test_glue_serve_runs_a_job_started_over_http(
    workspace_dir: Workspace, tmp_path: Path, tenant_key: str
) -> None:
    pytest.importorskip("glue_runtime.jobs.executor", reason="the embedded executor")
    served = start_served(workspace_dir, tmp_path / "serve.log")
    try:
        client = served.client(tenant_key)
        answer = client.post(START, json={"connector": "files"})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["jobs"][0]["id"]
        ended = wait_status(client, job_id, {"succeeded", "failed", "cancelled", "interrupted"})
        assert ended["status"] == "succeeded", (ended, served.output())
        assert _landed(workspace_dir) == ["acme-1", "acme-2"]
    finally:
        assert stop_served(served) == 0, served.output()


GOOD_KEY = "good-k3y-run-5d8e2a9c"
BAD_KEY = "bad-k3y-run-7e1c4b6f"


@pytest.fixture
def keyed(workspace_dir: Workspace) -> Workspace:
    add_keyed_flow(workspace_dir)
    return workspace_dir


@pytest.mark.slow
def test_no_secret_reaches_a_jobs_answers_or_logs(
    keyed: Workspace, tmp_path: Path, tenant_key: str
) -> None:
    pytest.importorskip("glue_runtime.jobs.execute", reason="the jobs layer's execute")
    from workspace.secret_sweep import assert_no_secrets

    with serve_app(keyed.root) as server:
        client = server.client(tenant_key)
        answers = []
        for key, status in ((GOOD_KEY, "succeeded"), (BAD_KEY, "failed")):
            link = {"settings": {"account": "acme-eu", "api_key": key}, "check": False}
            answers.append(client.post("/v1/flows/keyed/tenants/acme/links/keyed", json=link))
            start = client.post("/v1/flows/keyed/tenants/acme/jobs", json={"connector": "keyed"})
            job_id = start.json()["jobs"][0]["id"]
            ran = keyed.glue("jobs", "exec", "--", job_id)  # ids may start with -
            shown = client.get(f"/v1/jobs/{job_id}")
            assert shown.json()["status"] == status, (shown.text, ran.code, ran.stderr)
            logs = client.get(f"/v1/jobs/{job_id}/logs")
            assert logs.json()["lines"]
            answers += [start, shown, logs, client.get("/v1/jobs")]
        assert "rejected" in answers[-2].text  # the tap's complaint is there, redacted
        assert_no_secrets([GOOD_KEY, BAD_KEY], texts=[a.text for a in answers])
