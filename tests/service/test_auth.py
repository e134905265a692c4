"""Every /v1 route needs a valid service key (but the documented public ones), and a tenant
key reaches nothing of another tenant: the answer is the one an unknown id gets."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from workspace.conftest_run import Workspace

from glue_runtime.jobs import records
from glue_runtime.jobs.model import JobRequest
from glue_runtime.service.app import ROUTERS
from glue_runtime.service.auth import PUBLIC_PREFIXES
from glue_runtime.service.keys import create_key, revoke_key
from service.conftest import AppServer

UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "a valid service key is required"}}


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every /v1 route of every router the app includes, and of every path
    of its OpenAPI document, path parameters filled in."""
    found: set[tuple[str, str]] = set()
    for name in ROUTERS:
        for route in importlib.import_module(name).router.routes:
            if isinstance(route, APIRoute):
                found.update((m, route.path) for m in route.methods)
    for path, item in app.openapi()["paths"].items():
        found.update((m.upper(), path) for m in item)
    return sorted(
        (method, re.sub(r"\{[^}]+\}", "x", path))
        for method, path in found
        if path.startswith("/v1") and not path.startswith(PUBLIC_PREFIXES) and method != "HEAD"
    )


def test_the_app_has_the_routes_this_test_walks(app_server: AppServer) -> None:
    routes = _routes(app_server.app)
    assert ("POST", "/v1/flows/x/tenants/x/jobs") in routes
    assert ("GET", "/v1/jobs") in routes
    assert len(routes) >= 15


@pytest.mark.parametrize("key", [None, "wrong", "gk_0000_nope", "Basic abc"])
def test_every_v1_route_answers_401_without_a_valid_key(
    app_server: AppServer, key: str | None
) -> None:
    client = app_server.client(None)
    headers = {"Authorization": key if key and " " in key else f"Bearer {key}"} if key else {}
    for method, path in _routes(app_server.app):
        answer = client.request(method, path, headers=headers, json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json() == UNAUTHORIZED, (method, path)


def test_a_revoked_key_gets_401_everywhere(app_server: AppServer, workspace_dir: Workspace) -> None:
    who, key = create_key(workspace_dir.store, "soon-revoked")
    client = app_server.client(key)
    assert client.get("/v1/jobs").status_code == 200
    revoke_key(workspace_dir.store, who.key_id)
    for method, path in _routes(app_server.app):
        answer = client.request(method, path, json={})
        assert answer.status_code == 401, (method, path, answer.text)


def test_a_key_with_the_right_id_and_a_wrong_secret_gets_401(
    app_server: AppServer, admin_key: str
) -> None:
    forged = admin_key[:-4] + ("AAAA" if not admin_key.endswith("AAAA") else "BBBB")
    assert app_server.client(forged).get("/v1/jobs").status_code == 401


def test_the_public_routes_answer_without_a_key(app_server: AppServer) -> None:
    client = app_server.client(None)
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/v1/oauth/callback", params={"state": "nope"}).status_code == 400


def test_admin_only_routes_refuse_a_tenant_key_with_403(
    app_server: AppServer, tenant_key: str
) -> None:
    client = app_server.client(tenant_key)
    assert client.post("/v1/tenants", json={"id": "initech"}).status_code == 403
    assert client.delete("/v1/tenants/acme").status_code == 403
    answer = client.put("/v1/flows/shop/tenants/acme/fieldmaps/files", json={"override": "x: 1"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


# -- tenant isolation ------------------------------------------------------------------------


def _job(ws: Workspace, tenant: str) -> str:
    job, _ = records.enqueue(ws.store, JobRequest("shop", tenant, "files", started_by="api"))
    return job.id


def _same_404(a: Any, b: Any, secret_id: str, unknown_id: str) -> None:
    """``a`` (another tenant's thing) answers as ``b`` (a thing that does not exist)."""
    assert (a.status_code, b.status_code) == (404, 404), (a.text, b.text)
    assert a.json()["error"]["code"] == "not_found"
    assert a.json()["error"].keys() == b.json()["error"].keys()
    assert (
        a.json()["error"]["message"].replace(secret_id, unknown_id) == b.json()["error"]["message"]
    )


def test_a_tenant_key_cannot_reach_another_tenants_job(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    theirs = _job(workspace_dir, "globex")
    mine = _job(workspace_dir, "acme")
    unknown = "x" * 16
    client = app_server.client(tenant_key)
    assert client.get(f"/v1/jobs/{mine}").json()["tenant"] == "acme"
    for method, suffix in [("GET", ""), ("POST", "/cancel"), ("POST", "/rerun"), ("GET", "/logs")]:
        a = client.request(method, f"/v1/jobs/{theirs}{suffix}")
        b = client.request(method, f"/v1/jobs/{unknown}{suffix}")
        _same_404(a, b, theirs, unknown)
        assert "globex" not in a.text
    listed = client.get("/v1/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [mine]
    assert client.get("/v1/jobs", params={"tenant": "globex"}).json()["jobs"] == []
    assert records.get(workspace_dir.store, theirs).status == "queued"  # not cancelled


def test_a_tenant_key_cannot_reach_another_tenants_links_or_start_its_jobs(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    client = app_server.client(tenant_key)
    pairs = [
        ("GET", "/v1/tenants/{t}"),
        ("GET", "/v1/tenants/{t}/links"),
        ("GET", "/v1/flows/shop/tenants/{t}/links/files"),
        ("DELETE", "/v1/flows/shop/tenants/{t}/links/files"),
        ("GET", "/v1/flows/shop/tenants/{t}/links/files/catalog"),
        ("GET", "/v1/flows/shop/tenants/{t}/fieldmaps/files"),
        ("POST", "/v1/flows/shop/tenants/{t}/links/files/link-token"),
        ("POST", "/v1/flows/shop/tenants/{t}/jobs"),
    ]
    for method, path in pairs:
        a = client.request(method, path.format(t="globex"), json={})
        b = client.request(method, path.format(t="nobody"), json={})
        _same_404(a, b, "globex", "nobody")
    assert [t["id"] for t in client.get("/v1/tenants").json()["tenants"]] == ["acme"]
    assert workspace_dir.store.find_link("shop", "globex", "files") is not None
    shown = client.get("/v1/flows/shop").json()
    assert {lk["tenant"] for lk in shown["links"]} == {"acme"}
    assert "globex" not in client.get("/v1/flows").text


def test_an_admin_key_sees_every_tenant(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    ids = {_job(workspace_dir, "acme"), _job(workspace_dir, "globex")}
    client = app_server.client(admin_key)
    assert {j["id"] for j in client.get("/v1/jobs").json()["jobs"]} == ids
    assert [t["id"] for t in client.get("/v1/tenants").json()["tenants"]] == ["acme", "globex"]
