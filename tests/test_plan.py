"""The run builder (plan.py): flow file -> RunRequest -> RunBuilder steps -> RunPlan (a JobSpec).

Plans are built without running them; the tap here is a real script that notes every time it
is started, so a test can say when a connector ran (discovery) and when none did.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from glue_test_helpers import FAKE_TAP, FAKE_TARGET, SINGER, run_cli, write_json

from glue_runtime import cli, defaults, run_flow
from glue_runtime.api import run
from glue_runtime.plan import RunBuilder, RunPlan, flow_request, plan_flow, plan_run
from glue_runtime.state import SingleFileStateStore

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "secret": {"type": "string"},
    },
}
CATALOG = {
    "streams": [
        {"tap_stream_id": "users", "stream": "users", "schema": SCHEMA, "key_properties": ["id"]}
    ]
}

SYNC = [
    {"type": "SCHEMA", "stream": "users", "schema": SCHEMA, "key_properties": ["id"]},
    {"type": "RECORD", "stream": "users", "record": {"id": 1, "name": "a", "secret": "s"}},
    {"type": "STATE", "value": {"n": 1}},
]

# A tap that notes each start (its arguments) in calls.log beside it, prints CATALOG for
# --discover, has no --about (so nothing checks its settings), and syncs SYNC.
COUNTING_TAP = f"""\
#!{sys.executable}
import json, sys
from pathlib import Path

with open(Path(__file__).with_name("calls.log"), "a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
if "--about" in sys.argv:
    sys.exit(2)
if "--discover" in sys.argv:
    print(json.dumps({CATALOG!r}))
    sys.exit(0)
for line in {SYNC!r}:
    print(json.dumps(line), flush=True)
"""


def _discoveries(folder: Path) -> int:
    log = folder / "calls.log"
    return sum("--discover" in line for line in log.read_text().splitlines()) if log.exists() else 0


def _flow(folder: Path, extra: str = "", *, field_map: bool = True, catalog: bool = False) -> Path:
    """A flow in ``folder`` with the counting tap, a fake target, and what the test adds."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tap_counting.py").write_text(COUNTING_TAP)
    (folder / "tap_counting.py").chmod(0o755)
    (folder / "fieldmap.yml").write_text("streams:\n  users:\n    exclude: [secret]\n")
    (folder / "etl.py").write_text("def transform(record, ctx):\n    return record\n")
    write_json(folder / "catalog.json", CATALOG)
    source = "source: {connector: ./tap_counting.py, config: {a: 1}"
    source += ", catalog: catalog.json}\n" if catalog else "}\n"
    text = "name: people\n" + source + f"targets: [{{connector: {FAKE_TARGET}}}]\n"
    if field_map:
        text += "field_map: fieldmap.yml\n"
    (folder / "flow.yml").write_text(text + textwrap.dedent(extra))
    return folder / "flow.yml"


class _Captured(Exception):
    """Raised in place of running a plan: the plan was built, and no job started."""


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[RunPlan]:
    """The plans ``execute`` was asked to run (by the API or the CLI), none of them run."""
    plans: list[RunPlan] = []

    def capture(self: RunPlan) -> Any:
        plans.append(self)
        raise _Captured

    monkeypatch.setattr(RunPlan, "execute", capture)
    return plans


# ----------------------------------------------------------------------------- what a plan holds


def test_a_flow_plan_holds_state_key_folder_catalog_and_stages_without_starting_a_process(
    tmp_path: Path,
):
    flow = _flow(tmp_path / "f", "etl: etl.py\n", catalog=True)
    plan = plan_flow(flow)
    spec = plan.spec
    base = (tmp_path / "f").resolve()
    assert spec.state_key == "people"  # the flow's name
    assert spec.store.location("people") == str(base / ".glue" / "state" / "people.json")
    assert plan.catalog_origin == "given" and plan.catalog_path is None
    # the catalog the tap gets carries the field map's selection
    (entry,) = spec.catalog["streams"]
    assert entry["selected"] is True
    off = {tuple(m["breadcrumb"]): m["metadata"].get("selected") for m in entry["metadata"]}
    assert off[("properties", "secret")] is False and off[("properties", "name")] is True
    assert len(spec.stages) == 2 and spec.select_stats is not None  # selector, then the ETL
    assert spec.after_mappers == [] and spec.mappers == []
    assert plan.batch is None
    assert spec.cwd == str(base)
    assert not (tmp_path / "f" / "calls.log").exists()  # the tap never started
    assert not (tmp_path / "f" / ".glue").exists()  # nothing written: no state, no cache


def test_the_flow_file_s_state_settings_and_the_callers_overrides(tmp_path: Path):
    flow = _flow(
        tmp_path / "f",
        "state: {dir: st, key: acme}\nmax_line_bytes: 1000\ntimeouts: {idle: 5}\n",
        field_map=False,
    )
    plan = plan_flow(flow)
    assert plan.spec.state_key == "acme"
    assert plan.spec.store.location("acme") == str((tmp_path / "f").resolve() / "st" / "acme.json")
    assert plan.spec.max_line_bytes == 1000 and plan.spec.timeouts.idle == 5
    assert plan.catalog_origin == "none" and plan.spec.catalog is None
    assert plan.spec.stages == [] and plan.spec.select_stats is None

    other = plan_flow(
        flow, state_file=tmp_path / "s.json", state_key="k", timeouts={"idle": 9}
    ).spec
    assert isinstance(other.store, SingleFileStateStore)
    assert other.store.location("k") == str(tmp_path / "s.json")
    assert other.state_key == "k" and other.timeouts.idle == 9


def test_a_direct_run_plan_takes_its_defaults_from_the_defaults_module(tmp_path: Path):
    write_json(tmp_path / "tap.json", {"records": 1})
    plan = plan_run(FAKE_TAP, [FAKE_TARGET, FAKE_TARGET], tap_config=tmp_path / "tap.json")
    assert plan.spec.state_key == defaults.direct_state_key(FAKE_TAP, [FAKE_TARGET] * 2)
    assert plan.spec.state_key == "fake_tap.py-to-fake_target.py+fake_target.py"
    assert plan.spec.store.location("x") == str(defaults.STATE_DIR / "x.json")
    assert plan.spec.tap.config == {"records": 1}
    assert plan.spec.tap_config_source == str(tmp_path / "tap.json")
    assert len(plan.spec.targets) == 2 and plan.catalog_origin == "none"


def test_batch_etl_and_mappers_place_the_stages(tmp_path: Path):
    batch = plan_flow(_flow(tmp_path / "b", "etl: {script: etl.py, mode: batch}\n", catalog=True))
    base = (tmp_path / "b").resolve()
    assert batch.batch is not None and batch.batch.script == base / "etl.py"
    assert batch.batch.jobs_dir == defaults.batch_jobs_dir(base) == base / ".glue" / "jobs"
    assert batch.batch.snapshots_dir == base / ".glue" / "snapshots"
    assert len(batch.spec.stages) == 1  # the selector; the script runs as its own process

    mapper = SINGER / "upper_mapper.py"
    mapped = plan_flow(
        _flow(tmp_path / "m", f"etl: etl.py\nmappers: [{{connector: {mapper}}}]\n", catalog=True)
    )
    assert [m.label for m in mapped.spec.mappers] == ["mapper-upper_mapper.py"]
    assert len(mapped.spec.stages) == 1  # the selector runs before the mappers
    assert len(mapped.spec.after_mappers) == 1  # the ETL after them


# ----------------------------------------------------------------------------- discovery


def test_discovery_runs_in_the_catalog_step_only_and_then_comes_from_the_cache(tmp_path: Path):
    folder = tmp_path / "f"
    builder = RunBuilder(flow_request(_flow(folder)))
    eps = builder.endpoints()
    assert _discoveries(folder) == 0  # finding the connectors starts none of them
    choice = builder.catalog(eps.tap)
    assert _discoveries(folder) == 1
    assert choice.origin == "discovered" and choice.catalog == CATALOG
    assert choice.path is not None
    assert choice.path.parent == defaults.catalog_cache_dir(folder.resolve())
    assert choice.path.parent == folder.resolve() / ".glue" / "catalogs"

    plan = plan_flow(folder / "flow.yml")  # the whole build: the same cache, no new discovery
    assert plan.catalog_origin == "cache" and plan.catalog_path == choice.path
    assert _discoveries(folder) == 1
    assert plan.spec.select_stats is not None


@pytest.mark.parametrize(
    ("field_map", "catalog", "origin"),
    [(False, False, "none"), (True, True, "given"), (False, True, "given")],
)
def test_no_discovery_without_a_field_map_or_with_a_catalog(
    tmp_path: Path, field_map: bool, catalog: bool, origin: str
):
    folder = tmp_path / "f"
    plan = plan_flow(_flow(folder, field_map=field_map, catalog=catalog))
    assert plan.catalog_origin == origin
    assert _discoveries(folder) == 0
    assert not (folder / ".glue").exists()


def test_glue_discover_and_a_run_share_the_catalog_cache(tmp_path: Path):
    folder = tmp_path / "f"
    flow = _flow(folder)
    first = run_cli("discover", "--flow", str(flow), "-o", str(tmp_path / "c.json"), cwd=tmp_path)
    assert first.code == 0, first.stderr
    assert "(discovered;" in first.stderr
    assert _discoveries(folder) == 1
    plan = plan_flow(flow)  # run from another folder: the cache is the flow's, not the cwd's
    assert plan.catalog_origin == "cache" and _discoveries(folder) == 1
    assert str(plan.catalog_path) in first.stderr


# ----------------------------------------------------------------------------- CLI and API


def test_the_cli_and_the_api_build_the_same_plan_for_a_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: list[RunPlan]
):
    flow = _flow(tmp_path / "f", "etl: etl.py\nstate: {key: acme}\n", catalog=True)
    with pytest.raises(_Captured):
        run_flow(flow)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the CLI started in another folder: the flow's folder counts
    result = CliRunner().invoke(cli.main, ["run", str(flow)])
    assert isinstance(result.exception, _Captured), result.output
    api_plan, cli_plan = captured
    assert cli_plan.describe() == api_plan.describe()
    assert cli_plan.spec.state_key == "acme"
    location = str((tmp_path / "f").resolve() / ".glue" / "state" / "acme.json")
    assert cli_plan.spec.store.location("acme") == location
    # `glue state --flow` finds the same store and key
    store, key = cli._store_and_key(None, str(flow), None, None)
    assert (key, store.location(key)) == ("acme", location)


def test_the_cli_and_the_api_build_the_same_plan_for_a_tap_and_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: list[RunPlan]
):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "tap.json", {"records": 2})
    write_json(tmp_path / "target.json", {"output": "out.jsonl"})
    with pytest.raises(_Captured):
        run(
            FAKE_TAP,
            [FAKE_TARGET],
            tap_config="tap.json",
            target_config=["target.json"],
            max_line_bytes=5000,
            timeouts={"drain": 7},
        )
    argv = ["run", "--tap", FAKE_TAP, "--target", FAKE_TARGET, "--tap-config", "tap.json"]
    argv += ["--target-config", "target.json", "--max-line-bytes", "5000"]
    result = CliRunner().invoke(cli.main, [*argv, "--timeout", "drain=7"])
    assert isinstance(result.exception, _Captured), result.output
    api_plan, cli_plan = captured
    assert cli_plan.describe() == api_plan.describe()
    assert cli_plan.spec.tap_config_source == api_plan.spec.tap_config_source == "tap.json"
    assert cli_plan.spec.targets[0].config == {"output": "out.jsonl"}


def test_a_flow_run_by_the_cli_and_by_the_api_commits_to_the_same_state(tmp_path: Path):
    """The same plan, executed: a real tap and target, one run each, the same state file."""
    folder = tmp_path / "f"
    folder.mkdir()
    write_json(folder / "target.json", {"output": str(folder / "out.jsonl")})
    (folder / "flow.yml").write_text(
        f"name: same\nsource: {{connector: {FAKE_TAP}, config: {{records: 3}}}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config_file: target.json}}]\n"
    )
    by_api = run_flow(folder / "flow.yml")
    assert by_api.ok, by_api.error
    by_cli = run_cli("run", str(folder / "flow.yml"), "--json", cwd=tmp_path)
    assert by_cli.code == 0, by_cli.stderr
    printed = json.loads(by_cli.stdout)
    assert printed["state_key"] == by_api.state_key == "same"
    assert printed["state_location"] == by_api.state_location
    assert by_api.state_location == str(folder.resolve() / ".glue" / "state" / "same.json")


def test_glue_tap_builds_the_tap_and_field_map_as_a_run_does(tmp_path: Path):
    folder = tmp_path / "f"
    flow = _flow(folder)
    out = tmp_path / "saved.singer"
    result = run_cli("tap", str(flow), "-o", str(out), cwd=tmp_path)
    assert result.code == 0, result.stderr
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["record"] for r in records if r["type"] == "RECORD"] == [{"id": 1, "name": "a"}]
    assert _discoveries(folder) == 1  # the catalog the field map needed, from the tap
    assert (folder / ".glue" / "catalogs").is_dir()
    assert not (folder / ".glue" / "state").exists()  # glue tap keeps no state
