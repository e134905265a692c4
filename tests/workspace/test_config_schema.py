"""glue.yml is checked against its JSON Schema and the rules a schema cannot say: each problem
by its key path, with a close match, through the function and through `glue flows list`."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from glue_test_helpers import run_cli

from glue_runtime.cli import main
from glue_runtime.errors import ConfigError
from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.configschema import SCHEMA_FILE, glue_schema

FULL = """\
version: 1
name: acme-platform
store: {url: "sqlite:///elsewhere.db"}
secrets: {key_file: keys/glue.key}
settings: {token_refresh_margin: 5m, oauth_state_ttl: 120, link_token_ttl: 1h}
connectors:
  tap-shop: {pip_url: "tap-shop==1.2", executables: [tap-shop]}
flows:
  shop:
    description: orders from the shops
    field_map: fields.yml
    etl: etl.py
    etl_mode: batch
    etl_format: csv
    mappers: [{connector: mapper-x, config: {a: 1, b: "${CRM_CLIENT_SECRET}"}}]
    timeouts: {idle: 10m, drain: 0}
    sources:
      crm:
        connector: tap-rest
        auth: oauth2
        config: {base_url: "https://api.example.com/{tenant}", limit: 5, key: "${CRM_CLIENT_SECRET}"}
        settings: [region]
        secret_settings: [signing_key]
        field_map: crm-fields.yml
        catalog: crm-catalog.json
        oauth:
          authorize_url: https://auth.example.com/authorize
          token_url: https://auth.example.com/token
          revoke_url: https://auth.example.com/revoke
          client_id: app-123
          client_secret: ${CRM_CLIENT_SECRET}
          scope: orders.read
          redirect_uri: http://127.0.0.1:8765/callback
          grant: authorization_code
          pkce: false
          token_auth: client_secret_basic
          authorize_params: {access_type: offline}
      woo:
        connector: tap-woo
        auth: api_key
        settings: [api_key, shop_url]
    targets:
      warehouse:
        connector: target-postgres
        config: {schema: "tenant_{tenant}"}
"""


def _workspace(tmp_path: Path, text: str, files: tuple[str, ...] = ()) -> Path:
    (tmp_path / "glue.yml").write_text(textwrap.dedent(text))
    for name in files:
        (tmp_path / name).write_text("{}")
    return tmp_path


def _full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_CLIENT_SECRET", "s3cr3t-from-env")
    files = ("fields.yml", "etl.py", "crm-fields.yml", "crm-catalog.json")
    return _workspace(tmp_path, FULL, files)


def test_every_key_of_a_full_glue_yml_reaches_the_model(tmp_path, monkeypatch):
    monkeypatch.delenv("GLUE_STORE_URL", raising=False)
    ws = load_workspace(_full(tmp_path, monkeypatch))
    assert ws.name == "acme-platform"
    assert ws.store_url == "sqlite:///elsewhere.db"
    assert ws.key_file == tmp_path.resolve() / "keys/glue.key"
    assert (ws.settings.refresh_margin_s, ws.settings.oauth_state_ttl_s) == (300.0, 120.0)
    assert ws.settings.link_token_ttl_s == 3600.0
    assert ws.installed["tap-shop"].executables == ("tap-shop",)
    flow = ws.flow("shop")
    assert (flow.etl_mode, flow.etl_format, flow.timeouts) == (
        "batch",
        "csv",
        {"idle": 600.0, "drain": None},
    )
    assert flow.mappers == ({"connector": "mapper-x", "config": {"a": 1, "b": "s3cr3t-from-env"}},)
    crm = flow.connector("crm")
    assert crm.oauth is not None and crm.oauth.client_secret == "s3cr3t-from-env"
    assert (crm.oauth.pkce, crm.oauth.token_auth) == (False, "client_secret_basic")
    assert crm.catalog == tmp_path.resolve() / "crm-catalog.json"
    assert flow.connector("woo").auth == "api_key"
    assert flow.connector("warehouse").direction == "write"
    assert ws.env_values == frozenset({"s3cr3t-from-env"})
    assert "s3cr3t-from-env" not in repr(ws)


def test_the_schema_is_draft_2020_12_and_ships_with_the_package():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(glue_schema())
    assert glue_schema()["$schema"].endswith("/2020-12/schema")
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert f'"workspace/{SCHEMA_FILE.name}"' in pyproject


BAD = [
    pytest.param(
        "flows: {shop: {sources: {crm: {oauth: {tokn_url: u, token_url: u, client_id: c}, "
        "auth: oauth2}}}}",
        "flows.shop.sources.crm.oauth.tokn_url: unknown key",
        "did you mean 'token_url'?",
        id="unknown-key",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {auth: oauth2, oauth: {client_id: c}}}}}",
        "flows.shop.sources.crm.oauth.token_url: missing: it is required",
        "",
        id="required",
    ),
    pytest.param(
        "flows: {shop: {sources: [crm]}}",
        "flows.shop.sources: must be a mapping, not a list",
        "",
        id="type",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {auth: oauth}}}}",
        "flows.shop.sources.crm.auth: 'oauth' is not allowed",
        "did you mean 'oauth2'?",
        id="enum",
    ),
    pytest.param(
        "settings: {token_refresh_margin: ten minutes}",
        "settings.token_refresh_margin: expected seconds or a duration",
        "",
        id="duration",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {auth: oauth2}}}}",
        "flows.shop.sources.crm.oauth: auth: oauth2 needs an oauth block",
        "",
        id="oauth2-needs-oauth",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {oauth: {token_url: t, client_id: c, "
        "redirect_uri: 'http://127.0.0.1:9/cb'}}}}}",
        "flows.shop.sources.crm.oauth.authorize_url: missing",
        "grant: client_credentials",
        id="code-grant-needs-authorize-url",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {oauth: {token_url: t, client_id: c, "
        "authorize_url: a, redirect_uri: 'http://example.com:8765/cb'}}}}}",
        "flows.shop.sources.crm.oauth.redirect_uri: 'http://example.com:8765/cb' is neither https",
        "",
        id="redirect-not-loopback",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {oauth: {token_url: t, client_id: c, "
        "authorize_url: a, redirect_uri: 'http://localhost/cb'}}}}}",
        "flows.shop.sources.crm.oauth.redirect_uri: 'http://localhost/cb' has no port",
        "",
        id="redirect-without-port",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {auth: api_key, oauth: {token_url: t, client_id: c, "
        "grant: client_credentials}}}}}",
        "flows.shop.sources.crm.auth: auth is api_key but the connector has an oauth block",
        "",
        id="oauth-block-without-oauth2",
    ),
    pytest.param(
        "flows: {shop: {field_map: feilds.yml, sources: {crm: {}}}}",
        "flows.shop.field_map: no file 'feilds.yml'",
        "did you mean 'fields.yml'?",
        id="field-map-missing",
    ),
    pytest.param(
        "flows: {shop: {etl: etl.py, sources: {crm: {}}}}",
        "flows.shop.etl: no file 'etl.py'",
        "",
        id="etl-missing",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {catalog: cat.json}}}}",
        "flows.shop.sources.crm.catalog: no file 'cat.json'",
        "",
        id="catalog-missing",
    ),
    pytest.param(
        "flows: {shop: {description: nothing to read, targets: {wh: {}}}}",
        "flows.shop.sources: the flow has no source",
        "",
        id="no-source",
    ),
    pytest.param(
        "flows: {Shop: {sources: {crm: {}}}}",
        "flows.Shop: flow name 'Shop' is not a valid id",
        "e.g. 'shop'",
        id="flow-id",
    ),
    pytest.param(
        "flows: {shop: {sources: {'my crm': {}}}}",
        "flows.shop.sources.my crm: connector id 'my crm' is not a valid id",
        "e.g. 'my-crm'",
        id="connector-id",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {}}, targets: {crm: {}}}}",
        "flows.shop.targets.crm: 'crm' is both a source and a target",
        "",
        id="same-id-twice",
    ),
    pytest.param(
        "flows: {shop: {sources: {crm: {config: {url: 'https://x/{tenat}/{{literal}}'}}}}}",
        "flows.shop.sources.crm.config.url: unknown placeholder {tenat}",
        "did you mean {tenant}?",
        id="placeholder",
    ),
]


@pytest.mark.parametrize(("text", "message", "hint"), BAD)
def test_a_bad_glue_yml_is_a_named_error_by_key_path(tmp_path, text, message, hint):
    (tmp_path / "fields.yml").write_text("{}")
    _workspace(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert str(tmp_path / "glue.yml") in err.value.message
    assert message in err.value.message
    assert hint in (err.value.hint or "")


@pytest.mark.parametrize(("text", "message", "hint"), BAD)
def test_glue_flows_list_refuses_a_bad_glue_yml_with_exit_2(
    tmp_path, monkeypatch, text, message, hint
):
    (tmp_path / "fields.yml").write_text("{}")
    _workspace(tmp_path, text)
    monkeypatch.setenv("GLUE_WORKSPACE", str(tmp_path))
    result = CliRunner().invoke(main, ["flows", "list"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'glue.yml'}")
    assert message in result.stderr
    assert "\n  hint: " in result.stderr and hint in result.stderr
    assert result.stdout == ""


def test_every_problem_is_listed_at_once(tmp_path):
    _workspace(
        tmp_path,
        "nmae: x\nflows: {shop: {sources: {crm: {auth: oauth2, conector: tap-x}}}}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    text = err.value.message
    assert "has 2 problems" in text
    assert "nmae: unknown key (did you mean 'name'?" in text
    assert "flows.shop.sources.crm.conector: unknown key (did you mean 'connector'?" in text


def test_a_value_from_the_environment_never_reaches_the_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_AUTH", "very-secret-value")
    _workspace(tmp_path, "flows: {shop: {sources: {crm: {auth: '${CRM_AUTH}'}}}}\n")
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert "'${CRM_AUTH}' is not allowed" in str(err.value)
    assert "very-secret-value" not in str(err.value)


@pytest.mark.parametrize(
    "oauth",
    [
        "{token_url: t, client_id: c, grant: client_credentials}",
        "{token_url: t, client_id: c, authorize_url: a, redirect_uri: 'https://app.example.com/cb'}",
        "{token_url: t, client_id: c, authorize_url: a, redirect_uri: 'http://localhost:8765/cb'}",
    ],
)
def test_oauth_blocks_that_fit_their_grant_load(tmp_path, oauth):
    _workspace(tmp_path, f"flows: {{shop: {{sources: {{crm: {{oauth: {oauth}}}}}}}}}\n")
    crm = load_workspace(tmp_path).flow("shop").connector("crm")
    assert crm.auth == "oauth2" and crm.oauth is not None


def test_an_empty_workspace_and_empty_connectors_load(tmp_path):
    _workspace(tmp_path, "version: 1\nflows: {shop: {sources: {crm: }, targets: {wh: }}}\n")
    flow = load_workspace(tmp_path).flow("shop")
    assert flow.connector("crm").connector == "crm"
    _workspace(tmp_path, "")
    assert load_workspace(tmp_path).flows == {}


def test_unknown_flow_and_connector_name_close_matches(tmp_path, monkeypatch):
    ws = load_workspace(_full(tmp_path, monkeypatch))
    with pytest.raises(ConfigError) as err:
        ws.flow("shoop")
    assert "unknown flow 'shoop'" in err.value.message
    assert "did you mean 'shop'?" in (err.value.hint or "")
    with pytest.raises(ConfigError) as err:
        ws.flow("shop").connector("wooo")
    assert "unknown connector 'wooo' in flow 'shop'" in err.value.message
    assert "did you mean 'woo'?" in (err.value.hint or "")
    assert "crm, warehouse, woo" in (err.value.hint or "")


def test_the_cli_says_a_bad_glue_yml_as_it_says_any_config_error(tmp_path):
    _workspace(tmp_path, "flows: {shop: {sources: {crm: {auth: oauth}}}}\n")
    text = run_cli("--workspace", str(tmp_path), "flows", "list", cwd=tmp_path)
    assert text.code == 2
    assert text.stderr.startswith("error: ")
    assert "flows.shop.sources.crm.auth: 'oauth' is not allowed" in text.stderr
    assert "Traceback" not in text.stderr
    as_json = run_cli(
        "--log-format", "json", "--workspace", str(tmp_path), "flows", "show", "shop", cwd=tmp_path
    )
    assert as_json.code == 2
    line = json.loads(as_json.stderr.strip().splitlines()[-1])
    assert line["kind"] == "config error" and line["exit_code"] == 2
    assert "flows.shop.sources.crm.auth" in line["message"]
    assert "oauth2" in line["hint"]


def test_broken_yaml_names_the_line_and_column(tmp_path):
    _workspace(tmp_path, "flows:\n  shop:\n    sources: {crm: {}}\n   targets: x\n")
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert (
        f"{tmp_path / 'glue.yml'} is not valid YAML, line 4, column 4: expected"
        in err.value.message
    )
    assert "\n" not in err.value.message


DOCS = Path(__file__).parents[2] / "docs" / "workspace.md"
# glue.yml's sections for jobs, triggers, schedules, the server and outbound webhooks are
# documented beside what they configure (and in the .d fragment folders while being written).
REFERENCE_DOCS = ("workspace.md", "jobs.md", "triggers.md", "server.md")


def _reference_text() -> str:
    docs = DOCS.parent
    parts = [docs / name for name in REFERENCE_DOCS]
    parts += sorted(docs.glob("*.d/*.md"))
    return "\n".join(p.read_text() for p in parts if p.exists())


def _schema_keys(node: object, defs: dict, seen: set[str]) -> set[str]:
    """Every property name the schema knows, following $refs once."""
    keys: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            keys |= _schema_keys(defs[ref.rsplit("/", 1)[1]], defs, seen)
        for name, sub in (node.get("properties") or {}).items():
            keys.add(name)
            keys |= _schema_keys(sub, defs, seen)
        for key in ("additionalProperties", "items"):
            keys |= _schema_keys(node.get(key), defs, seen)
    return keys


def test_the_reference_documents_every_key_of_the_schema():
    schema = glue_schema()
    keys = _schema_keys(schema, schema["$defs"], set())
    assert {"token_url", "pip_url", "etl_format", "link_token_ttl", "authorize_params"} <= keys
    text = _reference_text()
    quoted = {part for code in re.findall(r"`([^`\n]+)`", text) for part in code.split(".")}
    missing = sorted(keys - quoted)
    assert missing == []


def test_the_worked_example_of_the_reference_loads(tmp_path, monkeypatch):
    text = DOCS.read_text().split("## A worked example", 1)[1]
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("AMAZON_CLIENT_SECRET", "x" * 8)
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://app:pw@db/warehouse")
    _workspace(tmp_path, example, ("ecommerce-fields.yml", "ecommerce_etl.py"))
    flow = load_workspace(tmp_path).flow("ecommerce")
    assert [*flow.sources, *flow.targets] == ["amazon", "woocommerce", "warehouse"]
    assert flow.connector("amazon").auth == "oauth2"
    assert flow.connector("woocommerce").settings == ("site_url", "consumer_key", "consumer_secret")


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path):
    _workspace(
        tmp_path,
        "flows:\n  shop:\n    sources: {crm: {}}\n  shop:\n    sources: {woo: {}}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_workspace(tmp_path)
    assert "line 4, column 3: 'shop' is written twice (first on line 2)" in err.value.message


def test_yaml_anchors_and_merge_keys_still_work(tmp_path):
    _workspace(
        tmp_path,
        "flows:\n"
        "  shop:\n"
        "    sources:\n"
        "      crm: &crm {connector: tap-rest, config: {a: 1}}\n"
        "      crm2: {<<: *crm, config: {a: 2}}\n",
    )
    flow = load_workspace(tmp_path).flow("shop")
    assert flow.connector("crm2").connector == "tap-rest"
    assert flow.connector("crm2").config == {"a": 2}
