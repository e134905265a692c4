"""The jobs routes over real HTTP: start (202 at once), Idempotency-Key, validation errors
that name the field, list filters, cancel, rerun, logs."""

from __future__ import annotations

import sqlalchemy as sa
from workspace.conftest_run import Workspace

from glue_runtime.jobs import records
from glue_runtime.jobs.tables import job_logs
from service.conftest import AppServer

START = "/v1/flows/shop/tenants/acme/jobs"


def test_start_queues_one_job_per_linked_source_and_answers_202(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    workspace_dir.link("shop", "acme", "other")
    answer = app_server.client(admin_key).post(START)
    assert answer.status_code == 202, answer.text
    jobs = answer.json()["jobs"]
    assert sorted(j["connector"] for j in jobs) == ["files", "other"]
    for job in jobs:
        assert job["status"] == "queued"
        assert (job["flow"], job["tenant"], job["started_by"]) == ("shop", "acme", "api")
        assert job["started_ref"] == "admin-test"
        assert records.get(workspace_dir.store, job["id"]).status == "queued"


def test_start_with_a_body_records_its_arguments(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    body = {
        "connector": "files",
        "streams": ["orders"],
        "sync_type": "full",
        "start_date": "2024-01-02",
    }
    answer = app_server.client(tenant_key).post(START, json=body)
    assert answer.status_code == 202, answer.text
    (job,) = answer.json()["jobs"]
    stored = records.get(workspace_dir.store, job["id"])
    assert (stored.connector, stored.streams, stored.sync_type, stored.start_date) == (
        "files",
        ["orders"],
        "full",
        "2024-01-02",
    )
    assert stored.started_ref == "acme-test"


def test_a_second_start_folds_into_the_queued_job(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    first = client.post(START, json={"connector": "files"}).json()["jobs"][0]
    second = client.post(START, json={"connector": "files"}).json()["jobs"][0]
    assert second["id"] == first["id"]
    assert second["folded"] == 1


def test_an_idempotency_key_returns_the_first_answer_and_starts_nothing_more(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str, tenant_key: str
) -> None:
    client = app_server.client(admin_key)
    headers = {"Idempotency-Key": "order-42"}
    first = client.post(START, json={"connector": "files"}, headers=headers)
    again = client.post(START, json={"connector": "files"}, headers=headers)
    assert first.status_code == again.status_code == 202
    job_id = first.json()["jobs"][0]["id"]
    assert [j["id"] for j in again.json()["jobs"]] == [job_id]
    assert records.get(workspace_dir.store, job_id).folded == 0  # not started again
    # the same key from another service key is another request: it folds into the job
    other = app_server.client(tenant_key).post(START, json={"connector": "files"}, headers=headers)
    assert other.json()["jobs"][0]["folded"] == 1


def test_an_idempotency_key_with_another_body_is_refused_and_changes_nothing(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    headers = {"Idempotency-Key": "order-43"}
    job_id = client.post(START, json={"connector": "files"}, headers=headers).json()["jobs"][0][
        "id"
    ]
    answer = client.post(START, json={"connector": "files", "sync_type": "full"}, headers=headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("idempotency_mismatch", "header.Idempotency-Key")
    job = records.get(workspace_dir.store, job_id)
    assert (job.folded, job.sync_type) == (0, "incremental")


def test_an_idempotency_key_expires_after_24_hours(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    headers = {"Idempotency-Key": "order-44"}
    t0 = 1_900_000_000.0
    app_server.ctx.now = lambda: t0
    first = client.post(START, json={"connector": "files"}, headers=headers).json()["jobs"][0]
    app_server.ctx.now = lambda: t0 + 24 * 3600 - 1
    assert (
        client.post(START, json={"connector": "files"}, headers=headers).json()["jobs"][0]["folded"]
        == 0
    )
    app_server.ctx.now = lambda: t0 + 24 * 3600 + 1
    later = client.post(START, json={"connector": "files"}, headers=headers).json()["jobs"][0]
    assert (later["id"], later["folded"]) == (first["id"], 1)  # a new request: folded in


def test_validation_errors_name_the_field_and_start_nothing(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    cases = {
        "body.sync_type": {"sync_type": "sometimes"},
        "body.streams": {"streams": "orders"},
        "body.start_date": {"start_date": "next tuesday"},
        "body.connector": {"connector": "../etc"},
        "body.colour": {"colour": "blue"},
    }
    for field, body in cases.items():
        answer = client.post(START, json=body)
        assert answer.status_code == 422, (field, answer.text)
        error = answer.json()["error"]
        assert (error["code"], error["field"]) == ("invalid", field), answer.text
        assert field in error["message"]
    bad_json = client.post(START, data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["code"] == "bad_json"
    assert records.list_jobs(workspace_dir.store) == []


def test_unknown_flow_tenant_or_link_is_404_and_starts_nothing(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    flow = client.post("/v1/flows/shopp/tenants/acme/jobs")
    assert flow.status_code == 404
    assert flow.json()["error"]["message"] == "unknown flow 'shopp' in glue.yml"
    assert "did you mean 'shop'" in flow.json()["error"]["hint"]
    assert client.post("/v1/flows/shop/tenants/nobody/jobs").status_code == 404
    link = client.post(START, json={"connector": "other"})
    assert link.status_code == 404, link.text
    assert "no linked source 'other'" in link.json()["error"]["message"]
    workspace_dir.store.add_tenant("initech")
    none = client.post("/v1/flows/shop/tenants/initech/jobs")
    assert none.status_code == 404 and "no linked source" in none.json()["error"]["message"]
    assert records.list_jobs(workspace_dir.store) == []


def test_a_paused_link_gets_409(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    from glue_runtime.workspace.tables import links

    with workspace_dir.store.write() as conn:
        conn.execute(sa.update(links).values(paused_at=1.0, paused_reason="by hand"))
    answer = app_server.client(admin_key).post(START)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "link_paused"


def test_list_filters_and_pages(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    a = client.post(START).json()["jobs"][0]["id"]
    g = client.post("/v1/flows/shop/tenants/globex/jobs").json()["jobs"][0]["id"]
    client.post(f"/v1/jobs/{a}/cancel")
    assert [
        j["id"] for j in client.get("/v1/jobs", params={"tenant": "globex"}).json()["jobs"]
    ] == [g]
    assert [
        j["id"] for j in client.get("/v1/jobs", params={"status": "cancelled"}).json()["jobs"]
    ] == [a]
    both = client.get("/v1/jobs", params={"status": "queued,cancelled"}).json()["jobs"]
    assert {j["id"] for j in both} == {a, g}
    page = client.get("/v1/jobs", params={"limit": 1}).json()
    assert [j["id"] for j in page["jobs"]] == [g] and page["next"] == g
    rest = client.get("/v1/jobs", params={"limit": 1, "before": page["next"]}).json()
    assert [j["id"] for j in rest["jobs"]] == [a]
    assert client.get("/v1/jobs", params={"since": "2999-01-01T00:00:00"}).json()["jobs"] == []
    wrong = client.get("/v1/jobs", params={"status": "sleeping"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "query.status"
    since = client.get("/v1/jobs", params={"since": "yesterday"})
    assert since.status_code == 422 and since.json()["error"]["field"] == "query.since"
    limit = client.get("/v1/jobs", params={"limit": 0})
    assert limit.status_code == 422 and limit.json()["error"]["field"] == "query.limit"


def test_cancel_a_queued_job_then_cancel_again_is_409(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    job_id = client.post(START).json()["jobs"][0]["id"]
    answer = client.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 202
    assert answer.json()["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_ended"


def test_rerun_queues_a_new_job_with_the_same_arguments(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    body = {"connector": "files", "streams": ["orders"], "sync_type": "full"}
    job_id = client.post(START, json=body).json()["jobs"][0]["id"]
    active = client.post(f"/v1/jobs/{job_id}/rerun")
    assert active.status_code == 409 and active.json()["error"]["code"] == "job_active"
    client.post(f"/v1/jobs/{job_id}/cancel")
    new = client.post(f"/v1/jobs/{job_id}/rerun").json()
    assert new["id"] != job_id
    assert (new["rerun_of"], new["attempt"], new["started_by"]) == (job_id, 2, "rerun")
    assert (new["streams"], new["sync_type"]) == (["orders"], "full")


def test_logs_page_after_a_line_id(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    client = app_server.client(tenant_key)
    job_id = client.post(START).json()["jobs"][0]["id"]
    with workspace_dir.store.write() as conn:
        for n in range(3):
            conn.execute(
                sa.insert(job_logs).values(
                    job_id=job_id, at=float(n), source="runtime", level="INFO", line=f"line {n}"
                )
            )
    lines = client.get(f"/v1/jobs/{job_id}/logs").json()["lines"]
    assert [ln["line"] for ln in lines] == ["line 0", "line 1", "line 2"]
    after = client.get(f"/v1/jobs/{job_id}/logs", params={"after": lines[0]["id"]}).json()
    assert [ln["line"] for ln in after["lines"]] == ["line 1", "line 2"]


def test_logs_follow_streams_lines_until_the_job_ends(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    import json
    import threading

    from glue_runtime.jobs.tables import jobs

    client = app_server.client(tenant_key)
    job_id = client.post(START).json()["jobs"][0]["id"]

    def log(text: str) -> None:
        with workspace_dir.store.write() as conn:
            conn.execute(
                sa.insert(job_logs).values(
                    job_id=job_id, at=1.0, source="runtime", level="INFO", line=text
                )
            )

    log("first")
    got: list[str] = []
    seen_first = threading.Event()

    def read() -> None:
        answer = client.get(f"/v1/jobs/{job_id}/logs", params={"follow": "true"}, stream=True)
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        for raw in answer.iter_lines():
            got.append(json.loads(raw)["line"])
            seen_first.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert seen_first.wait(30)
    log("second")
    with workspace_dir.store.write() as conn:  # the last line and the end at once
        conn.execute(
            sa.insert(job_logs).values(
                job_id=job_id, at=2.0, source="runtime", level="INFO", line="last"
            )
        )
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(status="cancelled"))
    reader.join(60)
    assert not reader.is_alive()
    assert got == ["first", "second", "last"]
