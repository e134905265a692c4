"""/healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

import json
import re

from workspace.conftest_run import Workspace

from glue_runtime.jobs import records
from glue_runtime.jobs.model import JobRequest
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import Store
from service.conftest import AppServer


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {line_start} in /metrics:\n{text}")


def test_metrics_give_jobs_by_status_and_queue_depth_read_at_scrape_time(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(None)
    start = 'glue_jobs_started_total{started_by="api"}'
    before = client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    assert _metric(before.text, 'glue_jobs{status="queued"}') == 0
    api = app_server.client(admin_key)
    a = api.post("/v1/flows/shop/tenants/acme/jobs").json()["jobs"][0]["id"]
    api.post("/v1/flows/shop/tenants/globex/jobs")
    api.post(f"/v1/jobs/{a}/cancel")
    records.enqueue(
        workspace_dir.store,
        JobRequest("shop", "acme", "files", not_before=app_server.ctx.now() + 3600),
    )
    text = client.get("/metrics").text
    assert _metric(text, 'glue_jobs{status="queued"}') == 2
    assert _metric(text, 'glue_jobs{status="cancelled"}') == 1
    assert _metric(text, 'glue_jobs{status="running"}') == 0
    assert _metric(text, "glue_queue_depth") == 1  # the debounced one is not due yet
    assert _metric(text, start) == _metric(before.text, start) + 2 if start in before.text else 2
    app_server.ctx.now = lambda: 9_999_999_999.0
    assert _metric(client.get("/metrics").text, "glue_queue_depth") == 2
    assert "glue_webhooks_total" in text and "glue_token_refreshes" in text
    assert "acme" not in text and "globex" not in text  # counts only: no tenant names


def test_healthz_says_503_when_the_store_does_not_answer(
    app_server: AppServer, workspace_dir: Workspace
) -> None:
    opened = app_server.ctx.opened
    app_server.ctx.opened = Opened(
        opened.workspace, Store("postgresql+psycopg://nobody@127.0.0.1:9/none"), None
    )
    try:
        answer = app_server.client(None).get("/healthz")
    finally:
        app_server.ctx.opened = opened
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "store": "unreachable"}
    assert "nobody" not in answer.text


def test_the_openapi_document_lists_every_route_and_holds_no_secret(
    app_server: AppServer, admin_key: str
) -> None:
    doc = app_server.client(None).get("/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/v1/flows/{flow}/tenants/{tenant}/jobs",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/rerun",
        "/v1/jobs/{job_id}/logs",
        "/v1/tenants",
        "/v1/tenants/{tenant}/links",
        "/v1/flows/{flow}/tenants/{tenant}/links/{connector}",
        "/v1/oauth/callback",
        "/healthz",
        "/metrics",
    ):
        assert path in paths, path
    text = json.dumps(doc)
    assert admin_key not in text
    assert not re.search(r"gk_[0-9a-f]{6,}_", text)  # no key-like example
    assert doc["components"]["securitySchemes"]["serviceKey"]["scheme"] == "bearer"
    assert {"serviceKey": []} in paths["/v1/jobs"]["get"]["security"]
    for path, item in paths.items():
        for method, op in item.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
