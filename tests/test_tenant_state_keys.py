"""Two tenants running one flow file through the Python API keep their own bookmarks (before,
both used the flow's key: the second tenant got no records)."""

from __future__ import annotations

import json
from pathlib import Path

import glue_runtime
from glue_runtime import defaults
from glue_runtime.flow import load_flow


def _flow(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "people.csv").write_text(
        "id,name,updated_at\n1,ann,2024-01-01\n2,bob,2024-01-02\n"
    )
    (tmp_path / "flow.yml").write_text(
        """
name: people
source:
  connector: files
  config:
    base_dir: data
    streams:
      - {name: people, path: people.csv, key_properties: [id], replication_key: updated_at}
targets:
  - connector: files
    config: {output_dir: out, format: jsonl}
"""
    )
    return tmp_path / "flow.yml"


def test_each_tenant_of_a_flow_gets_its_own_bookmarks(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    acme = glue_runtime.run_flow(flow, tenant="acme").raise_for_status()
    globex = glue_runtime.run_flow(flow, tenant="globex").raise_for_status()
    assert acme.records_in == globex.records_in == 2  # globex got 0 when keys were shared
    assert (acme.state_key, globex.state_key) == ("people:acme", "people:globex")
    again = glue_runtime.run_flow(flow, tenant="acme").raise_for_status()
    assert again.records_in <= 1  # incremental from acme's own bookmark
    store = defaults.flow_state_store(load_flow(flow))
    assert "2024-01-02" in json.dumps(store.get("people:acme"))


def test_the_default_tenant_keeps_the_bare_key_and_an_explicit_key_wins(tmp_path: Path) -> None:
    flow = load_flow(_flow(tmp_path))
    assert defaults.flow_state_key(flow) == "people"
    assert defaults.flow_state_key(flow, tenant="default") == "people"
    assert defaults.flow_state_key(flow, tenant="acme") == "people:acme"
    assert defaults.flow_state_key(flow, "mine", tenant="acme") == "mine"
    assert defaults.direct_state_key("tap-x", ["target-y"], tenant="acme") == "x-to-y:acme"
