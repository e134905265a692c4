"""External Singer mappers between the field map and the ETL: real mapper processes, through
the CLI, flow files and the Python API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TAP, FAKE_TARGET, SINGER, read_jsonl, run_cli, write_json

import glue_runtime
from glue_runtime import connectors
from glue_runtime.errors import ConfigError
from glue_runtime.flow import parse_flow
from glue_runtime.mappers import _FedStates

UPPER = str(SINGER / "upper_mapper.py")
REPLAY_TAP = str(SINGER / "replay_tap.py")


def _run(job, tap: dict, *mappers: tuple[str, dict], target: dict | None = None):
    extra: list[str] = []
    for i, (exe, cfg) in enumerate(mappers):
        write_json(job.dir / f"mapper{i}.json", cfg)
        extra += ["--mapper", exe, "--mapper-config", f"mapper{i}.json"]
    return job.run(tap, target, *extra)


def test_cli_mapper_runs_between_tap_and_target_and_state_passes_through(job):
    first = _run(job, {"records": 12, "state_every": 5}, (UPPER, {"field": "name"}))
    assert first.code == 0, first.stderr
    assert [r["name"] for r in job.records()][:2] == ["USERS-1", "USERS-2"]
    assert len(job.records()) == 12
    assert "upper-casing 'name'" in first.stderr  # its stderr is relayed, labelled
    # STATE went through the mapper to the target, which confirmed it: committed exactly.
    assert job.committed() == {"bookmarks": {"users": {"id": 12}}}
    assert job.committed() == job.confirmed()[-1]

    second = _run(job, {"records": 3, "state_every": 5}, (UPPER, {"field": "name"}))
    assert second.code == 0, second.stderr
    assert 'state received {"bookmarks": {"users": {"id": 12}}}' in second.stderr
    assert [r["id"] for r in job.records()][12:] == [13, 14, 15]


def test_two_mappers_chain_in_order(job):
    result = _run(
        job,
        {"records": 4, "state_every": 2},
        (UPPER, {"rename": {"users": "people"}}),
        (UPPER, {"field": "name"}),
    )
    assert result.code == 0, result.stderr
    records = job.records()
    assert {r["stream"] for r in records} == {"people"}
    assert [r["name"] for r in records] == ["USERS-1", "USERS-2", "USERS-3", "USERS-4"]
    assert job.committed() == {"bookmarks": {"users": {"id": 4}}}
    assert "people" in result.stderr  # the summary counts what went out under its new name


def test_mapper_crash_is_a_mapper_failed_error_in_the_api(tmp_path: Path):
    result = glue_runtime.run(
        FAKE_TAP,
        FAKE_TARGET,
        tap_config={"records": 50, "state_every": 5},
        target_config={"output": str(tmp_path / "out.jsonl")},
        mappers=[UPPER],
        mapper_config={"fail_after": 3},
        state_file=tmp_path / "state.json",
    )
    assert result.status == "failed" and result.exit_code == 3
    assert isinstance(result.error, glue_runtime.MapperFailed)
    assert "mapper-upper_mapper.py exited with code 1" in str(result.error)


def test_mapper_crash_fails_the_job_and_commits_nothing_further(job):
    result = _run(job, {"records": 5000, "state_every": 5}, (UPPER, {"fail_after": 12}))
    assert result.code == 3, result.stderr
    assert "mapper failed" in result.stderr
    assert "exited with code 1" in result.stderr
    assert "KeyError: 'boom'" in result.stderr  # the mapper's stderr tail
    assert len(job.records()) <= 12
    # Only what the target confirmed, and nothing past the last STATE the mapper passed on
    # (id 10): the target may have confirmed 5 or 10 before the crash was seen.
    committed = job.committed()
    assert committed in ({}, *job.confirmed())
    assert committed.get("bookmarks", {}).get("users", {}).get("id", 0) <= 10


def test_mapper_that_stops_reading_fails_the_job(job):
    result = _run(job, {"records": 5000, "state_every": 5}, (UPPER, {"stop_after": 3}))
    assert result.code == 3, result.stderr
    assert "stopped reading its input" in result.stderr
    assert job.committed() == {}


def test_altered_state_is_not_passed_on_and_confirms_nothing(job):
    result = _run(job, {"records": 12, "state_every": 5}, (UPPER, {"alter_state": True}))
    assert result.code == 0, result.stderr
    assert len(job.records()) == 12
    assert "a STATE the tap did not send" in result.stderr
    assert job.confirmed() == []  # the target never saw the altered values
    assert job.committed() == {}


def test_unchanged_messages_keep_their_exact_bytes_through_a_mapper(tmp_path: Path):
    # Numbers a float cannot hold: a mapper passing the line on unchanged keeps them exact.
    lines = [
        {"type": "SCHEMA", "stream": "n", "schema": {"type": "object"}, "key_properties": []},
        '{"type":"RECORD","stream":"n","record":{"big":123456789012345678901234567890,'
        '"dec":1.000000000000000001}}',
        {"type": "STATE", "value": {"bookmarks": {"n": {"at": 18446744073709551617}}}},
    ]
    data = tmp_path / "in.singer"
    data.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    result = glue_runtime.run(
        REPLAY_TAP,
        FAKE_TARGET,
        tap_config={"input": str(data)},
        target_config={"output": str(out), "capture_all": True},
        mappers=[UPPER],
        mapper_config=[{"field": "name"}],
        state_file=tmp_path / "state.json",
    )
    assert result.ok, result.error
    got = out.read_text()
    assert "123456789012345678901234567890" in got and "1.000000000000000001" in got
    state = json.loads((tmp_path / "state.json").read_text())
    assert state == {"bookmarks": {"n": {"at": 18446744073709551617}}}


def test_flow_file_mappers_run_after_the_field_map_and_before_the_etl(tmp_path: Path):
    catalog = {
        "streams": [
            {
                "tap_stream_id": "users",
                "schema": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                },
                "key_properties": ["id"],
                "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
            }
        ]
    }
    write_json(tmp_path / "catalog.json", catalog)
    (tmp_path / "fieldmap.yml").write_text("streams:\n  users: on\n")
    # The ETL sees what the mapper wrote (upper case): it runs after the mappers.
    (tmp_path / "etl.py").write_text(
        "def transform(record, ctx):\n    return {**record, 'seen': record['name']}\n"
    )
    (tmp_path / "flow.yml").write_text(
        f"""
name: mapped
source:
  connector: {FAKE_TAP}
  config: {{records: 6, state_every: 3, extra_field: true}}
  catalog: catalog.json
field_map: fieldmap.yml
mappers:
  - connector: {UPPER}
    config: {{field: name}}
etl: etl.py
targets:
  - connector: {FAKE_TARGET}
    config: {{output: out.jsonl}}
state: {{file: state.json}}
"""
    )
    result = glue_runtime.run_flow(tmp_path / "flow.yml")
    assert result.ok, result.error
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["seen"] for r in records] == [f"USERS-{i}" for i in range(1, 7)]
    assert all("extra" not in r for r in records)  # the field map's selector ran before
    assert json.loads((tmp_path / "state.json").read_text()) == {"bookmarks": {"users": {"id": 6}}}
    assert result.streams["users"].records_in == 6 and result.streams["users"].records_out == 6


def test_mapper_NAME_on_path_is_found_by_its_bare_name(tmp_path: Path, job):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(UPPER, bin_dir / "mapper-upper")
    env_path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    write_json(job.dir / "m.json", {"field": "name"})
    result = run_cli(
        "run", "--tap", FAKE_TAP, "--target", FAKE_TARGET,
        *job.configs({"records": 3}), "--mapper", "upper", "--mapper-config", "m.json",
        "--state-file", "state.json", cwd=job.dir, env={"PATH": env_path},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert [r["name"] for r in job.records()] == ["USERS-1", "USERS-2", "USERS-3"]
    assert "mapper-upper" in result.stderr


def test_unknown_mapper_is_a_config_error_naming_it(job):
    result = _run(job, {"records": 3}, ("no-such-mapper-here", {}))
    assert result.code == 2
    assert "no mapper called 'no-such-mapper-here'" in result.stderr


def test_cli_mapper_config_count_must_match(job):
    write_json(job.dir / "m.json", {})
    result = job.run({"records": 3}, None, "--mapper", UPPER, "--mapper", UPPER,
                     "--mapper-config", "m.json")  # fmt: skip
    assert result.code == 2
    assert "2 --mapper but 1 --mapper-config" in result.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("mappers: upper\n", "mappers must be a list"),
        ("mappers: [{connector: x, catalog: c.json}]\n", "mappers[0] has a catalog"),
        ("mappers: [{config: {}}]\n", "mappers[0] has no 'connector'"),
    ],
)
def test_flow_mapper_errors(tmp_path: Path, text: str, needle: str):
    (tmp_path / "c.json").write_text("{}")
    import yaml

    data = yaml.safe_load("source: x\ntargets: [y]\n" + text)
    with pytest.raises(ConfigError, match=f".*{needle.replace('[', '.').replace(']', '.')}"):
        parse_flow(data, where="flow.yml", base_dir=tmp_path)


def test_flow_mappers_parse_names_paths_and_configs(tmp_path: Path):
    data = {
        "source": "x",
        "targets": ["y"],
        "mappers": ["upper", {"connector": "./bin/m", "config": {"a": 1}}],
    }
    flow = parse_flow(data, where="flow.yml", base_dir=tmp_path)
    assert [m.connector for m in flow.mappers] == ["upper", str((tmp_path / "bin/m").resolve())]
    assert flow.mappers[1].config == {"a": 1}


def test_resolve_mapper_kind_labels_it(tmp_path: Path):
    exe = tmp_path / "my-mapper"
    shutil.copy(UPPER, exe)
    found = connectors.resolve(str(exe), "mapper")
    assert found.kind == "mapper" and found.label == "mapper-my-mapper"


def test_fed_states_match_in_order_and_refuse_altered_values():
    fed = _FedStates()
    for v in ({"a": 1}, {"a": 2}, {"a": 3}):
        fed.fed(v)
    assert fed.came_out({"a": 2})  # {"a": 1} was dropped by the mapper: settled too
    assert not fed.came_out({"a": 1})  # already settled: not credited again
    assert not fed.came_out({"a": 3, "mapper": 1})
    assert fed.came_out({"a": 3.0})  # the same value spelled differently
    assert not fed.came_out({"a": 3})


def _meltano_map_transform() -> str | None:
    exe = os.environ.get("GLUE_TEST_MELTANO_MAP_TRANSFORM")
    if exe:
        return exe
    cached = (
        Path(__file__).parent.parent
        / "benchmarks/.cache/venvs/meltano-map-transform/bin/meltano-map-transform"
    )
    return str(cached) if cached.exists() else shutil.which("meltano-map-transform")


@pytest.mark.slow
def test_meltano_map_transform_as_a_mapper(job):
    exe = _meltano_map_transform()
    if exe is None:
        pytest.skip("meltano-map-transform is not installed here (benchmarks/run.py caches it)")
    config = {
        "stream_maps": {"users": {"shout": "name.upper()", "name": "__NULL__"}},
    }
    result = _run(job, {"records": 7, "state_every": 3}, (exe, config))
    assert result.code == 0, result.stderr
    records = job.records()
    assert [r["shout"] for r in records] == [f"USERS-{i}" for i in range(1, 8)]
    assert all("name" not in r for r in records)
    assert job.committed() == {"bookmarks": {"users": {"id": 7}}}


def test_flow_file_doc_example_names_a_mapper(tmp_path: Path):
    import re

    import yaml

    doc = (Path(__file__).parent.parent / "docs" / "flow-file.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    flow = parse_flow(yaml.safe_load(block), where="doc", base_dir=tmp_path)
    (mapper,) = flow.mappers
    assert mapper.connector == str((tmp_path / ".venv-mmt/bin/meltano-map-transform").resolve())
    assert mapper.config == {"stream_maps": {"orders": {"email": "__NULL__"}}}


def test_malformed_mapper_output_names_the_mapper_and_line(job):
    result = _run(job, {"records": 50, "state_every": 5}, (UPPER, {"garbage_after": 7}))
    assert result.code == 4, result.stderr
    # SCHEMA, 7 RECORDs and the STATE after the 5th come before it
    assert "mapper-upper_mapper.py: line 10 is not valid JSON" in result.stderr
    assert "'this is not json'" in result.stderr
    assert len(job.records()) == 7  # what came before still reached the target
    assert job.committed() == {"bookmarks": {"users": {"id": 5}}} == job.confirmed()[-1]


def test_mapper_config_secrets_are_redacted(job):
    result = _run(job, {"records": 3}, (UPPER, {"api_key": "sk_live_mapper_SECRET_42"}))
    assert result.code == 0, result.stderr
    assert "sk_live_mapper_SECRET_42" not in result.stderr
    assert "using key ***" in result.stderr


def test_a_secret_in_malformed_mapper_output_is_masked_in_the_error(job):
    secret = "Zq9xK7wPv3Lm2Tr8"
    result = _run(
        job, {"records": 10}, (UPPER, {"garbage_after": 2, "api_key": secret, "garbage_pad": 95})
    )
    assert result.code == 4, result.stderr
    assert "is not valid JSON" in result.stderr  # the secret straddles the excerpt's cut
    assert not any(secret[i : i + 4] in result.stderr for i in range(len(secret) - 3))


def test_sigterm_with_a_mapper_drains_and_commits_only_confirmed_state(job):
    job.configs({"records": 100000, "state_every": 5, "sleep": 0.002})
    write_json(job.dir / "m.json", {"field": "name"})
    proc = subprocess.Popen(
        [*job.argv(), "--mapper", UPPER, "--mapper-config", "m.json"],
        cwd=job.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not job.state.exists() and time.monotonic() < deadline:  # a first commit
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted by SIGTERM" in stderr
    committed = job.committed()
    assert committed == job.confirmed()[-1]
    records = job.records()
    assert committed["bookmarks"]["users"]["id"] <= len(records) < 100000
    assert all(r["name"] == r["name"].upper() for r in records)


@pytest.mark.slow
def test_meltano_map_transform_keeps_numbers_and_state_exact(tmp_path: Path):
    exe = _meltano_map_transform()
    if exe is None:
        pytest.skip("meltano-map-transform is not installed here (benchmarks/run.py caches it)")
    data = tmp_path / "in.singer"
    data.write_text(
        '{"type":"SCHEMA","stream":"n","schema":{"type":"object","properties":{"id":'
        '{"type":"integer"},"big":{"type":"number"},"dec":{"type":"number"}}},'
        '"key_properties":["id"]}\n'
        '{"type":"RECORD","stream":"n","record":{"id":1,"big":123456789012345678901234567890,'
        '"dec":1.000000000000000001}}\n'
        '{"type":"STATE","value":{"bookmarks":{"n":{"at":18446744073709551617}}}}\n'
    )
    out = tmp_path / "out.jsonl"
    result = glue_runtime.run(
        REPLAY_TAP,
        FAKE_TARGET,
        tap_config={"input": str(data)},
        target_config={"output": str(out), "capture_all": True},
        mappers=[exe],
        mapper_config=[{"stream_maps": {"n": {"x": "id * 2"}}}],
        state_file=tmp_path / "state.json",
    )
    assert result.ok, result.error
    record = next(line for line in out.read_text().splitlines() if '"RECORD"' in line)
    assert '"big":123456789012345678901234567890' in record
    assert '"dec":1.000000000000000001' in record and '"x":2' in record
    state = json.loads((tmp_path / "state.json").read_text())
    assert state == {"bookmarks": {"n": {"at": 18446744073709551617}}}


def test_batch_etl_flow_runs_its_mappers_before_the_landing(tmp_path: Path):
    script = Path(__file__).parent.parent / "docs" / "examples" / "batch" / "etl.py"
    (tmp_path / "flow.yml").write_text(
        f"name: crm\n"
        f"source: {{connector: {FAKE_TAP}, config: {{records: 3, state_every: 3}}}}\n"
        f"mappers: [{{connector: {UPPER}, config: {{field: name}}}}]\n"
        f"etl: {{script: {script}, mode: batch}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )
    result = run_cli("run", "flow.yml", cwd=tmp_path)
    assert result.code == 0, result.stderr
    (job_dir,) = (tmp_path / ".glue/jobs").iterdir()
    landed = read_jsonl(job_dir / "sync-output" / "users.jsonl")
    assert [r["name"] for r in landed] == ["USERS-1", "USERS-2", "USERS-3"]
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3
    assert result.stderr.count("upper-casing 'name'") == 1  # not again on the ETL's output
    assert json.loads((tmp_path / ".glue/state/crm.json").read_text()) == {
        "bookmarks": {"users": {"id": 3}}
    }


def test_numbers_stay_exact_when_the_etl_after_a_mapper_rewrites_the_record(tmp_path: Path):
    schema = {"type": "object", "properties": {"big": {"type": "number"}}}
    data = tmp_path / "in.singer"
    data.write_text(
        json.dumps({"type": "SCHEMA", "stream": "n", "schema": schema, "key_properties": []}) + "\n"
        '{"type":"RECORD","stream":"n","record":{"big":123456789012345678901234567890,'
        '"dec":1.000000000000000001}}\n'
        '{"type":"STATE","value":{"bookmarks":{"n":{"at":12345678901234567890.1234567890}}}}\n'
    )
    etl = tmp_path / "etl.py"
    etl.write_text("def transform(record, ctx):\n    return {**record, 'seen': 1}\n")
    out = tmp_path / "out.jsonl"
    result = glue_runtime.run(
        REPLAY_TAP,
        str(SINGER / "exact_target.py"),  # keeps every byte, echoes each STATE as it came
        tap_config={"input": str(data)},
        target_config={"output": str(out)},
        mappers=[UPPER],
        etl=etl,
        state_file=tmp_path / "state.json",
    )
    assert result.ok, result.error
    record = next(line for line in out.read_text().splitlines() if '"RECORD"' in line)
    assert '"seen":1' in record  # rewritten by the ETL, after the mapper
    assert "123456789012345678901234567890" in record and "1.000000000000000001" in record
    assert "12345678901234567890.1234567890" in (tmp_path / "state.json").read_text()
