"""The workspace routes over real HTTP: tenants, API-key links (secrets stored, never
echoed), unlink, flows, catalogs, field map overrides (written by admins only)."""

from __future__ import annotations

import pytest
import requests
from glue_test_helpers import SINGER
from workspace.conftest_run import Workspace
from workspace.secret_sweep import assert_no_secrets

from service.conftest import AppServer

KEYED_TAP = str(SINGER / "keyed_tap.py")
GOOD_KEY = "good-k3y-svc-4b7e9d1a"
BAD_KEY = "bad-k3y-svc-8c2f6e0b"
LINK = "/v1/flows/keyed/tenants/acme/links/keyed"


@pytest.fixture
def workspace_dir(workspace_dir: Workspace) -> Workspace:
    """The service workspace plus flow `keyed`: an API-key source (keyed_tap: `api_key` is
    secret; discovery accepts keys starting with good-)."""
    yml = workspace_dir.root / "glue.yml"
    yml.write_text(
        yml.read_text()
        + f"""
  keyed:
    sources:
      keyed: {{connector: {KEYED_TAP}, auth: api_key}}
    targets:
      db: {{connector: sqlite, config: {{database: "out/keyed-{{tenant}}.db"}}}}
"""
    )
    return workspace_dir


def _texts(*answers: requests.Response) -> list[str]:
    return [a.text for a in answers] + [str(dict(a.headers)) for a in answers]


def test_tenants_are_added_listed_shown_and_removed(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    made = client.post(
        "/v1/tenants", json={"id": "initech", "name": "Initech", "metadata": {"plan": "pro"}}
    )
    assert made.status_code == 201, made.text
    assert made.json()["metadata"] == {"plan": "pro"}
    assert [t["id"] for t in client.get("/v1/tenants").json()["tenants"]] == [
        "acme",
        "globex",
        "initech",
    ]
    assert client.get("/v1/tenants/initech").json()["name"] == "Initech"
    again = client.post("/v1/tenants", json={"id": "initech"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    bad = client.post("/v1/tenants", json={"id": "no spaces"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "body.id"
    removed = client.delete("/v1/tenants/initech")
    assert removed.status_code == 200, removed.text
    assert removed.json()["tenant"] == "initech"
    assert client.get("/v1/tenants/initech").status_code == 404
    assert client.delete("/v1/tenants/initech").status_code == 404


def test_a_tenant_key_sees_only_its_tenant(app_server: AppServer, tenant_key: str) -> None:
    client = app_server.client(tenant_key)
    assert [t["id"] for t in client.get("/v1/tenants").json()["tenants"]] == ["acme"]
    assert client.get("/v1/tenants/acme").status_code == 200


def test_an_api_key_link_is_made_shown_and_never_echoes_its_secret(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str, admin_key: str
) -> None:
    client = app_server.client(tenant_key)
    made = client.post(LINK, json={"settings": {"account": "acme-eu", "api_key": GOOD_KEY}})
    assert made.status_code == 201, made.text
    shown = made.json()
    assert shown["secrets"] == {"api_key": "****"}
    assert shown["settings"] == {"account": "acme-eu"}
    one = client.get(LINK)
    listed = client.get("/v1/tenants/acme/links")
    assert {lk["connector"] for lk in listed.json()["links"]} == {"files", "keyed"}
    catalog = client.get(LINK + "/catalog")
    assert catalog.status_code == 200
    assert [s["stream"] for s in catalog.json()["streams"]] == ["items"]
    flows = app_server.client(admin_key).get("/v1/flows/keyed")
    assert_no_secrets([GOOD_KEY], texts=_texts(made, one, listed, catalog, flows))
    _, secrets = workspace_dir.store.credentials(workspace_dir.store.link("keyed", "acme", "keyed"))
    assert secrets == {"api_key": GOOD_KEY}


def test_a_link_that_fails_its_check_saves_nothing_and_hides_the_key(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    client = app_server.client(tenant_key)
    bad = client.post(LINK, json={"settings": {"account": "acme-eu", "api_key": BAD_KEY}})
    assert 400 <= bad.status_code < 500, bad.text
    assert bad.json()["error"]["message"]
    missing = client.post(LINK, json={"settings": {"account": "acme-eu"}})
    assert missing.status_code == 400
    assert "api_key" in missing.json()["error"]["message"]
    assert_no_secrets([BAD_KEY], texts=_texts(bad, missing))
    assert workspace_dir.store.find_link("keyed", "acme", "keyed") is None


def test_unlink_removes_the_link(
    app_server: AppServer, workspace_dir: Workspace, tenant_key: str
) -> None:
    client = app_server.client(tenant_key)
    client.post(
        LINK, json={"settings": {"account": "acme-eu", "api_key": GOOD_KEY}, "check": False}
    )
    gone = client.delete(LINK)
    assert gone.status_code == 200, gone.text
    assert gone.json()["unlinked"] == "keyed/acme/keyed"
    assert workspace_dir.store.find_link("keyed", "acme", "keyed") is None
    assert client.get(LINK).status_code == 404
    assert client.delete(LINK).status_code == 404


def test_flows_are_listed_and_shown(app_server: AppServer, admin_key: str) -> None:
    client = app_server.client(admin_key)
    names = [f["name"] for f in client.get("/v1/flows").json()["flows"]]
    assert "shop" in names and "keyed" in names
    shop = client.get("/v1/flows/shop").json()
    assert [s["id"] for s in shop["sources"]] == ["files", "other"]
    assert {lk["tenant"] for lk in shop["links"]} == {"acme", "globex"}
    assert client.get("/v1/flows/nope").status_code == 404


def test_no_catalog_yet_is_404(app_server: AppServer, admin_key: str) -> None:
    answer = app_server.client(admin_key).get("/v1/flows/shop/tenants/acme/links/files/catalog")
    assert answer.status_code == 404
    assert "no catalog" in answer.json()["error"]["message"]


FIELD_MAP = "streams:\n  orders:\n    fields: [id, name]\n"


def test_a_field_map_override_is_written_by_an_admin_and_read_by_the_tenant(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str, tenant_key: str
) -> None:
    path = "/v1/flows/shop/tenants/acme/fieldmaps/files"
    tenant = app_server.client(tenant_key)
    assert tenant.get(path).json()["override"] is None
    admin = app_server.client(admin_key)
    saved = admin.put(path, json={"override": FIELD_MAP})
    assert saved.status_code == 200, saved.text
    assert tenant.get(path).json() == saved.json() | {"override": FIELD_MAP, "uses": "override"}
    assert workspace_dir.store.fieldmap_override("shop", "acme", "files") == FIELD_MAP
    bad = admin.put(path, json={"override": "streams: [unclosed"})
    assert bad.status_code == 422, bad.text
    assert workspace_dir.store.fieldmap_override("shop", "acme", "files") == FIELD_MAP
    assert (
        admin.put(
            "/v1/flows/shop/tenants/acme/fieldmaps/nope", json={"override": FIELD_MAP}
        ).status_code
        == 404
    )
    assert admin.delete(path).status_code == 204
    assert workspace_dir.store.fieldmap_override("shop", "acme", "files") is None
    assert admin.delete(path).status_code == 404


def test_removing_a_tenant_removes_its_jobs_links_and_service_keys(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str, tenant_key: str
) -> None:
    mine = app_server.client(tenant_key)
    assert mine.post("/v1/flows/shop/tenants/acme/jobs").status_code == 202
    removed = app_server.client(admin_key).delete("/v1/tenants/acme")
    assert removed.status_code == 200, removed.text
    counts = removed.json()["removed"]
    assert (counts["links"], counts["jobs"], counts["service_keys"]) == (1, 1, 1)
    assert mine.get("/v1/jobs").status_code == 401  # its key went with it
    assert workspace_dir.store.find_link("shop", "globex", "files") is not None
