"""`glue flows list|show`: each flow's connectors and targets, who linked what and the state of
each link, with app secrets masked."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner
from glue_test_helpers import run_cli

from glue_runtime.cli import main
from glue_runtime.workspace.appsecrets import set_app_secret
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import LINK_NEEDS_REAUTH
from workspace.conftest_config import about_connector, open_test_workspace

GLUE_YML = """\
connectors:
  hub: {pip_url: ./hub, executables: [tap-hub]}
flows:
  shop:
    description: orders from the shops
    field_map: fields.yml
    etl: etl.py
    sources:
      crm:
        connector: tap-shopx
        config:
          base_url: "https://app:url-pass-4321@api.example.com/{tenant}"
          signing_code: schema-secret-5555
          webhook_salt: flow-secret-7777
          from_env: ${SHOP_ENV_VALUE}
          page_size: 50
        secret_settings: [webhook_salt]
        oauth:
          authorize_url: https://auth.example.com/authorize
          token_url: https://auth.example.com/token
          client_id: app-1
          client_secret: ${SHOP_CLIENT_SECRET}
          scope: orders.read
          redirect_uri: http://127.0.0.1:8765/callback
      woo:
        connector: tap-woo
        auth: api_key
        settings: [api_key, shop_url]
    targets:
      warehouse:
        connector: target-jsonl
        config: {folder: "out/{tenant}"}
  hub:
    sources:
      contacts: {connector: tap-hub, auth: api_key, config: {hub_seal: venv-secret-3333}}
      erp: {oauth: {token_url: "https://erp.example.com/token", client_id: e, grant: client_credentials}}
      ads: {oauth: {token_url: "https://ads.example.com/token", client_id: a, grant: client_credentials}}
"""
SECRETS = (
    "url-pass-4321",
    "schema-secret-5555",
    "flow-secret-7777",
    "env-value-1234",
    "client-secret-8888",
    "tenant-token-acme",
    "tenant-key-globex",
    "venv-secret-3333",
    "stored-app-secret-6666",
)


@pytest.fixture
def shop(tmp_path, monkeypatch, store_url):
    """The workspace above, its store on SQLite and on PostgreSQL: acme linked crm (ran once),
    globex linked crm (its refresh was rejected) and woo (never ran), initech linked the hub's
    contacts."""
    monkeypatch.setenv("SHOP_ENV_VALUE", "env-value-1234")
    monkeypatch.setenv("SHOP_CLIENT_SECRET", "client-secret-8888")
    bindir = tmp_path / "bin"
    about_connector(
        bindir,
        "tap-shopx",
        {"type": "object", "properties": {"signing_code": {"type": "string", "secret": True}}},
    )
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    about_connector(  # installed by the workspace, in its own virtualenv
        tmp_path / ".glue/venvs/hub/bin",
        "tap-hub",
        {"type": "object", "properties": {"hub_seal": {"type": "string", "secret": True}}},
    )
    for name in ("fields.yml", "etl.py"):
        (tmp_path / name).write_text("")
    workspace, store = open_test_workspace(tmp_path, GLUE_YML, monkeypatch, store_url)
    opened = Opened(workspace, store, store.keyring)
    set_app_secret(opened, "hub", "erp", "client_secret", "stored-app-secret-6666")
    for tenant in ("acme", "globex", "initech"):
        store.add_tenant(tenant)

    def link(flow, tenant, connector, auth, secrets):
        return store.save_link(
            flow=flow,
            tenant=tenant,
            connector=connector,
            direction="read",
            auth=auth,
            settings={"region": "eu"},
            secrets=secrets,
        )

    link("shop", "acme", "crm", "oauth2", {"access_token": "tenant-token-acme"})
    globex = link("shop", "globex", "crm", "oauth2", {"refresh_token": "tenant-token-globex"})
    store.set_link_status(globex, LINK_NEEDS_REAUTH, "invalid_grant")
    link("shop", "globex", "woo", "api_key", {"api_key": "tenant-key-globex"})
    link("hub", "initech", "contacts", "api_key", {"api_key": "tenant-key-initech"})
    ran_at = 1_790_000_000.0
    DbStateStore(store, clock=lambda: ran_at).set("shop/acme/crm", {"bookmarks": {}})
    yield store, ran_at
    store.close()


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_flows_list_counts_the_tenants_that_linked_each_connector(shop):
    code, out, _ = _cli("flows", "list", "--json")
    assert code == 0
    flows = {f["name"]: f for f in json.loads(out)}
    assert list(flows) == ["shop", "hub"]
    sources = {s["id"]: s for s in flows["shop"]["sources"]}
    assert (sources["crm"]["auth"], sources["crm"]["tenants_linked"]) == ("oauth2", 2)
    assert (sources["woo"]["auth"], sources["woo"]["tenants_linked"]) == ("api_key", 1)
    assert flows["shop"]["targets"] == [
        {
            "id": "warehouse",
            "connector": "target-jsonl",
            "auth": "none",
            "needs_link": False,
            "tenants_linked": 0,
        }
    ]
    assert flows["hub"]["sources"][0]["tenants_linked"] == 1
    code, text, _ = _cli("flows", "list")
    assert code == 0
    assert "shop  orders from the shops" in text
    assert "crm              tap-shopx            oauth2   2 tenant(s) linked" in text
    assert "warehouse        target-jsonl         none     shared" in text


def test_flows_show_gives_each_links_state(shop):
    _, ran_at = shop
    code, out, _ = _cli("flows", "show", "shop", "--json")
    assert code == 0
    detail = json.loads(out)
    links = {(lk["tenant"], lk["connector"]): lk for lk in detail["links"]}
    assert set(links) == {("acme", "crm"), ("globex", "crm"), ("globex", "woo")}
    assert (links["acme", "crm"]["state"], links["acme", "crm"]["last_run"]) == ("ok", ran_at)
    assert links["globex", "crm"]["state"] == "needs re-authorisation"
    assert links["globex", "crm"]["last_error"] == "invalid_grant"
    assert (links["globex", "woo"]["state"], links["globex", "woo"]["last_run"]) == (
        "never run",
        None,
    )
    assert (detail["field_map"], detail["etl"], detail["etl_mode"]) == (
        "fields.yml",
        "etl.py",
        "stream",
    )
    assert [t["id"] for t in detail["targets"]] == ["warehouse"]
    assert detail["targets"][0]["config"] == {"folder": "out/{tenant}"}
    code, text, _ = _cli("flows", "show", "shop")
    assert code == 0
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ran_at))
    assert f"acme                 crm              oauth2   ok                       {when}" in text
    assert "globex               crm              oauth2   needs re-authorisation   -" in text
    assert "globex               woo              api_key  never run                -" in text
    assert "field map: fields.yml" in text and "etl: etl.py (stream)" in text


def test_a_link_whose_connector_left_glue_yml_says_so(shop):
    store, _ = shop
    store.save_link(
        flow="shop",
        tenant="acme",
        connector="gone",
        direction="read",
        auth="none",
        settings={},
        secrets=None,
    )
    _, out, _ = _cli("flows", "show", "shop", "--json")
    states_by = {(lk["tenant"], lk["connector"]): lk["state"] for lk in json.loads(out)["links"]}
    assert states_by["acme", "gone"] == "not in glue.yml"


def test_flows_show_masks_every_app_secret(shop):
    code, out, _ = _cli("flows", "show", "shop", "--json")
    assert code == 0
    crm = json.loads(out)["sources"][0]
    assert crm["config"]["signing_code"] == "***"  # the connector's schema marks it secret
    assert crm["config"]["webhook_salt"] == "***"  # the flow's secret_settings
    assert crm["config"]["from_env"] == "***"  # glue.yml took it from the environment
    assert crm["config"]["base_url"] == "https://app:***@api.example.com/{tenant}"
    assert crm["config"]["page_size"] == 50
    assert crm["oauth"]["client_secret"] == "***"
    assert crm["oauth"]["client_secret_from"] == "environment"
    assert crm["oauth"]["client_id"] == "app-1"
    _, text, _ = _cli("flows", "show", "shop")
    _, hub, _ = _cli("flows", "show", "hub", "--json")
    contacts = json.loads(hub)["sources"][0]
    assert contacts["config"]["hub_seal"] == "***"  # its schema, from the workspace's venv
    for secret in SECRETS:
        assert secret not in out + text + hub


def test_flows_show_says_which_connectors_this_machine_cannot_run(shop):
    _, out, _ = _cli("flows", "show", "shop", "--json")
    sources = {c["id"]: c["available"] for c in json.loads(out)["sources"]}
    assert sources == {"crm": True, "woo": False}  # tap-shopx is on PATH, tap-woo nowhere
    _, hub, _ = _cli("flows", "show", "hub", "--json")
    assert json.loads(hub)["sources"][0]["available"] is True  # in .glue/venvs/hub
    _, text, _ = _cli("flows", "show", "shop")
    assert "  woo  (tap-woo, auth api_key)  [not installed here: `glue connectors install`]" in text
    assert "  crm  (tap-shopx, auth oauth2)\n" in text


def test_flows_show_of_an_unknown_flow_names_the_close_match(shop):
    code, out, err = _cli("flows", "show", "shoop")
    assert code == 2
    assert out == ""
    assert "unknown flow 'shoop'" in err and "did you mean 'shop'?" in err


def test_glue_flows_runs_as_a_process_against_the_store(shop, tmp_path):
    result = run_cli("flows", "show", "hub", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    detail = json.loads(result.stdout)
    assert [(lk["tenant"], lk["state"]) for lk in detail["links"]] == [("initech", "never run")]
    nested = run_cli("flows", "show", "hub", cwd=tmp_path / "bin", env={"GLUE_WORKSPACE": ""})
    assert nested.code == 0, nested.stderr  # the nearest glue.yml upwards
    assert "initech" in nested.stdout


def test_flows_show_says_where_each_oauth_client_secret_comes_from(shop):
    _, out, _ = _cli("flows", "show", "hub", "--json")
    oauth = {c["id"]: c["oauth"] for c in json.loads(out)["sources"]}
    assert oauth["contacts"] is None
    assert (oauth["erp"]["client_secret"], oauth["erp"]["client_secret_from"]) == ("***", "store")
    assert (oauth["ads"]["client_secret"], oauth["ads"]["client_secret_from"]) == (None, None)
    _, text, _ = _cli("flows", "show", "hub")
    assert "    client secret: *** (an app secret in the store)" in text
    assert "    client secret: not set (`glue secrets set hub ads client_secret`" in text
    _, shop_text, _ = _cli("flows", "show", "shop")
    assert "    client secret: *** (glue.yml, from the environment)" in shop_text
