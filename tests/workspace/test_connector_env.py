"""Connectors and ETL scripts never get the workspace's secret key or the store's URL."""

from __future__ import annotations

import json
from pathlib import Path

from glue_test_helpers import FAKE_TARGET, SINGER, run_cli

from glue_runtime.workspace.crypto import new_key
from workspace.secret_sweep import assert_no_secrets

LEAKY_TAP = str(SINGER / "leaky_tap.py")
STORE_URL = "postgresql://glue:store-pw-8d1c@127.0.0.1:5432/glue"
ETL_SCRIPT = """\
import json, os, sys
for name in ("GLUE_SECRET_KEY", "GLUE_STORE_URL", "ORDINARY_VAR"):
    print(f"etl {name}={os.environ.get(name)}", file=sys.stderr)
with open(os.path.join(os.environ["ETL_OUTPUT"], "data.singer"), "w") as out:
    out.write(json.dumps({"type": "SCHEMA", "stream": "s", "schema": {}, "key_properties": []}))
    out.write("\\n" + json.dumps({"type": "RECORD", "stream": "s", "record": {}}) + "\\n")
"""


def test_a_connector_and_a_batch_script_see_neither_the_key_nor_the_store_url(
    tmp_path: Path,
) -> None:
    key = new_key()
    names = ["GLUE_SECRET_KEY", "GLUE_STORE_URL", "ORDINARY_VAR"]
    (tmp_path / "etl.py").write_text(ETL_SCRIPT)
    source = {"connector": LEAKY_TAP, "config": {"print_env": names}}
    target = {"connector": FAKE_TARGET, "config": {"output": "out.jsonl"}}
    (tmp_path / "flow.yml").write_text(
        f"name: envcheck\nsource: {json.dumps(source)}\ntargets: [{json.dumps(target)}]\n"
        "state: {file: state.json}\netl: {script: etl.py, mode: batch}\n"
    )
    env = {"GLUE_SECRET_KEY": key, "GLUE_STORE_URL": STORE_URL, "ORDINARY_VAR": "plain-value"}
    result = run_cli("--log-level", "DEBUG", "run", "flow.yml", cwd=tmp_path, env=env)
    out = result.stdout + result.stderr
    assert result.code == 0, out[-3000:]
    assert "GLUE_SECRET_KEY=None" in out and "GLUE_STORE_URL=None" in out, out[-3000:]
    assert "ORDINARY_VAR=plain-value" in out  # the rest of the environment still passes
    assert "etl GLUE_SECRET_KEY=None" in out and "etl ORDINARY_VAR=plain-value" in out
    assert_no_secrets([key, "store-pw-8d1c"], texts=[out], folders=[tmp_path])
