"""The schedule routes through real HTTP (uvicorn on 127.0.0.1): a flow's schedules with next
runs, a tenant's override set and cleared by an admin key, tenant keys kept to their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from workspace.conftest_run import Workspace, make_workspace

from glue_runtime.service.schedules.overrides import overrides

from .conftest_schedules import T0, schedules_yaml

SCHEDULES = """
      hourly:
        cron: "0 * * * *"
      nightly:
        cron: "30 2 * * *"
        timezone: Europe/Paris
        tenants: [globex]
"""
BASE = "/v1/flows/shop/tenants/{tenant}/schedules/{schedule}"


@pytest.fixture
def workspace_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_store_url: str | None
) -> Iterator[Workspace]:
    """The service tests' workspace with schedules in flow shop."""
    ws = make_workspace(tmp_path / "ws", service_store_url)
    schedules_yaml(ws.root, SCHEDULES)
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)
    yield ws
    ws.store.close()


@pytest.fixture
def api(app_server):
    app_server.ctx.now = lambda: T0 + 10
    return app_server


def test_a_flow_s_schedules_with_each_tenant_s_next_run(api, admin_key):
    answer = api.client(admin_key).get("/v1/flows/shop/schedules")
    assert answer.status_code == 200, answer.text
    found = {s["name"]: s for s in answer.json()["schedules"]}
    assert found["hourly"]["cron"] == "0 * * * *" and found["hourly"]["tenants"] == "all"
    rows = {r["tenant"]: r for r in found["hourly"]["per_tenant"]}
    assert set(rows) == {"acme", "globex"}
    acme = rows["acme"]
    assert T0 + 10 < acme["next_run_at"] <= T0 + 3600 + 300  # after the test's clock
    assert (acme["next_run_at"] - acme["jitter_s"]) % 3600 == 0  # an hour plus acme's jitter
    assert rows["acme"]["next_run"].endswith("+00:00")
    (nightly,) = found["nightly"]["per_tenant"]
    assert nightly["tenant"] == "globex" and nightly["timezone"] == "Europe/Paris"
    assert nightly["next_run"][11:16] in {f"02:{m}" for m in range(30, 36)}


def test_an_admin_sets_and_clears_a_tenant_override(api, admin_key):
    client = api.client(admin_key)
    url = BASE.format(tenant="acme", schedule="hourly")
    put = client.put(url, json={"every": "2h", "timezone": "Asia/Kolkata"})
    assert put.status_code == 200, put.text
    row = put.json()
    assert (row["every_s"], row["timezone"], row["enabled"]) == (7200, "Asia/Kolkata", True)
    assert row["override"]["updated_by"] == "admin-test"
    off = client.put(BASE.format(tenant="globex", schedule="hourly"), json={"enabled": False})
    assert off.json()["enabled"] is False and off.json()["next_run"] is None
    assert client.get(url).json()["every_s"] == 7200
    cleared = client.delete(url)
    assert cleared.status_code == 200 and cleared.json()["override"] is None
    assert cleared.json()["cron"] == "0 * * * *"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"every": "10s"}, "every"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "0 * * * *", "every": "1h"}, "every"),
        ({"cadence": "hourly"}, "body.cadence"),
        ({"enabled": "sometimes"}, "body.enabled"),
    ],
)
def test_a_bad_override_is_a_422_naming_the_field_and_changes_nothing(
    api, admin_key, workspace_dir, body, field
):
    answer = api.client(admin_key).put(BASE.format(tenant="acme", schedule="hourly"), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert overrides(workspace_dir.store) == {}


def test_tenant_keys_read_their_own_and_cannot_write(api, tenant_key, workspace_dir):
    acme = api.client(tenant_key)
    listed = acme.get("/v1/flows/shop/schedules").json()["schedules"]
    assert all("tenants" not in s for s in listed)  # other tenants' ids are not shown
    assert {r["tenant"] for s in listed for r in s["per_tenant"]} == {"acme"}
    assert acme.get(BASE.format(tenant="acme", schedule="hourly")).status_code == 200
    other = acme.get(BASE.format(tenant="globex", schedule="hourly"))
    missing = acme.get(BASE.format(tenant="nobody", schedule="hourly"))
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["message"] == "unknown tenant 'globex'"
    write = acme.put(BASE.format(tenant="acme", schedule="hourly"), json={"enabled": False})
    assert write.status_code == 403
    assert acme.delete(BASE.format(tenant="acme", schedule="hourly")).status_code == 403
    assert overrides(workspace_dir.store) == {}


def test_no_key_no_answer_and_unknown_names_are_404(api, admin_key):
    assert api.client(None).get("/v1/flows/shop/schedules").status_code == 401
    client = api.client(admin_key)
    assert client.get("/v1/flows/nope/schedules").status_code == 404
    unknown = client.get(BASE.format(tenant="acme", schedule="hourli"))
    assert unknown.status_code == 404
    assert "did you mean 'hourly'" in unknown.json()["error"]["hint"]
