"""`glue connectors available`: what can be added to a flow, with the auth kind its settings
suggest and its settings (required, secret)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from glue_runtime.cli import main
from glue_runtime.workspace.available import guess_auth
from workspace.conftest_config import about_connector

OAUTH = {
    "type": "object",
    "properties": {
        "client_id": {"type": "string"},
        "client_secret": {"type": "string", "secret": True},
        "refresh_token": {"type": "string", "secret": True},
        "start_date": {"type": "string", "description": "Sync from here.\nMore."},
    },
    "required": ["client_id", "start_date"],
}
API_KEY = {
    "type": "object",
    "properties": {"account": {"type": "string"}, "api_key": {"type": "string"}},
    "required": ["api_key"],
}
NONE = {"type": "object", "properties": {"folder": {"type": "string"}}}


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        (OAUTH, "oauth2"),
        ({"properties": {"client_id": {}, "client_secret": {}}}, "oauth2"),
        ({"properties": {"auth": {"properties": {"oauth_refresh_token": {}}}}}, "oauth2"),
        (API_KEY, "api_key"),
        ({"properties": {"host": {}, "pw": {"secret": True}}}, "api_key"),
        ({"properties": {"password": {}}}, "api_key"),
        (NONE, "none"),
        (None, "none"),
    ],
)
def test_the_auth_kind_is_guessed_from_the_settings(schema, kind):
    assert guess_auth(schema) == kind


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """tap-oauthy and tap-keyed on PATH; a workspace that installed target-vaulty in its venv
    and records tap-missing that is not installed on this machine."""
    bindir = tmp_path / "bin"
    about_connector(bindir, "tap-oauthy", OAUTH)
    about_connector(bindir, "tap-keyed", API_KEY)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "ws"
    about_connector(root / ".glue/venvs/vaulty/bin", "target-vaulty", NONE)
    (root / "glue.yml").write_text(
        "connectors:\n"
        "  vaulty: {pip_url: ./vaulty, executables: [target-vaulty]}\n"
        "  missing: {pip_url: tap-missing==1.0, executables: [tap-missing]}\n"
        "flows:\n"
        "  shop:\n"
        "    sources: {a: {connector: tap-oauthy}, b: {connector: oauthy}, c: {connector: keyed}}\n"
        "    targets: {out: {connector: target-vaulty}}\n"
    )
    monkeypatch.setenv("GLUE_WORKSPACE", str(root))
    return root


def _available(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["connectors", "available", *args])
    return result.exit_code, result.stdout, result.stderr


def test_connectors_available_lists_installed_and_workspace_connectors(machine):
    code, out, _ = _available("--json")
    assert code == 0
    found = {c["name"]: c for c in json.loads(out)}
    assert found["tap-oauthy"]["auth"] == "oauth2"
    assert found["tap-oauthy"]["kind"] == "tap" and found["tap-oauthy"]["source"] == "PATH"
    settings = {s["name"]: s for s in found["tap-oauthy"]["settings"]}
    assert settings["client_secret"] == {
        "name": "client_secret",
        "type": "string",
        "required": False,
        "secret": True,
        "description": "",
    }
    assert (
        settings["start_date"]["required"]
        and settings["start_date"]["description"] == "Sync from here."
    )
    assert found["tap-keyed"]["auth"] == "api_key"
    vaulty = found["target-vaulty"]
    assert (vaulty["kind"], vaulty["source"], vaulty["auth"]) == ("target", "workspace", "none")
    assert vaulty["location"] == str(machine / ".glue/venvs/vaulty")
    assert "tap-missing" not in found
    assert found["tap-oauthy"]["supported_in"] == ["shop/a", "shop/b"]
    assert found["tap-keyed"]["supported_in"] == ["shop/c"]
    assert vaulty["supported_in"] == ["shop/out"]
    assert found["tap-rest"]["supported_in"] == []
    assert "tap-rest" in found  # the bundled connectors, through their entry points
    assert list(found).index("target-vaulty") < list(found).index("tap-rest")


def test_connectors_available_as_text(machine):
    code, text, _ = _available()
    assert code == 0
    assert "tap-oauthy               tap     auth oauth2   PATH" in text
    assert "    client_secret            [secret]" in text
    assert "    start_date               [required] Sync from here." in text
    assert "    supported in: shop/a, shop/b\n" in text


def test_connectors_available_outside_a_workspace(machine, monkeypatch, tmp_path):
    monkeypatch.setenv("GLUE_WORKSPACE", "")
    monkeypatch.chdir(tmp_path)
    code, out, _ = _available("--json")
    assert code == 0
    names = {c["name"] for c in json.loads(out)}
    assert "tap-oauthy" in names and "target-vaulty" not in names


def test_a_connector_without_about_is_listed_with_the_reason(machine, tmp_path):
    broken = tmp_path / "bin" / "tap-broken"
    broken.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    broken.chmod(0o755)
    code, out, _ = _available("--json")
    assert code == 0
    found = {c["name"]: c for c in json.loads(out)}
    assert found["tap-broken"]["settings"] == [] and found["tap-broken"]["auth"] == "none"
    assert found["tap-broken"]["problem"] == "it gives no --about information (settings unknown)"
    assert found["tap-oauthy"]["problem"] is None
