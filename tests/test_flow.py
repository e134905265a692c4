"""Flow files: parsing, ${VAR} expansion, errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from glue_test_helpers import write_json
from scripted_run import REVIEW_TAP, REVIEW_TARGET

from glue_runtime.errors import ConfigError
from glue_runtime.flow import expand_env, load_flow


def test_env_expansion_defaults_and_escape():
    env = {"A": "1"}
    value = {"x": "${A}", "y": ["${B:-two}", "$${A}"], "z": 3}
    assert expand_env(value, where="f", env=env) == {"x": "1", "y": ["two", "${A}"], "z": 3}


def test_missing_variable_names_key_and_variable():
    with pytest.raises(ConfigError, match=r"f: targets\[0\]\.config\.pw uses \$\{PW\}"):
        expand_env({"targets": [{"config": {"pw": "${PW}"}}]}, where="f", env={})


def test_flow_reads_config_file_and_resolves_paths(tmp_path: Path):
    (tmp_path / "tap.json").write_text(json.dumps({"a": 1, "b": "${HOME_X:-h}"}))
    (tmp_path / "flow.yml").write_text(
        "name: f\nsource: {connector: ./bin/tap-x, config_file: tap.json, config: {a: 2}}\n"
        "target: sqlite\nstate: out/state.json\n"
    )
    flow = load_flow(tmp_path / "flow.yml")
    # inline keys win; the file's own values are used as written (no ${VAR} expansion)
    assert flow.source.config == {"a": 2, "b": "${HOME_X:-h}"}
    assert flow.source.connector == str((tmp_path / "bin/tap-x").resolve())
    assert [t.connector for t in flow.targets] == ["sqlite"]
    assert flow.state_file == tmp_path / "out/state.json"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("source: x\n", "no 'targets'"),
        ("targets: [x]\n", "no 'source'"),
        ("source: x\ntargets: []\n", "'targets' is empty"),
        ("source: x\ntargets: [y]\nsauce: 1\n", "unknown keys ['sauce']"),
        ("source: {config: {}}\ntargets: [y]\n", "source has no 'connector'"),
        ("source: [x\n", "not valid YAML at line"),
        (
            "source: {connector: x, config_file: nope.json}\ntargets: [y]\n",
            "nope.json does not exist",
        ),
    ],
)
def test_flow_errors(tmp_path: Path, text: str, needle: str):
    path = tmp_path / "flow.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_flow(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value) or "nope.json" in str(err.value)


# == ${VAR} expansion and config files =========================================================


def test_default_applies_when_the_variable_is_empty():
    assert expand_env({"port": "${PORT:-5432}"}, where="f", env={"PORT": ""}) == {"port": "5432"}


def test_config_file_values_are_not_rewritten_by_env_expansion(tmp_path: Path):
    write_json(tmp_path / "tap.json", {"password": "Pa$$w0rd"})
    (tmp_path / "flow.yml").write_text(
        f"name: f\nsource: {{connector: {REVIEW_TAP}, config_file: tap.json}}\n"
        f"targets: [{{connector: {REVIEW_TARGET}}}]\n"
    )
    assert load_flow(tmp_path / "flow.yml").source.config["password"] == "Pa$$w0rd"
