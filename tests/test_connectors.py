"""The connector registry: entry points, PATH, virtualenvs, --about, config validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TAP, FAKE_TARGET, run_cli

from glue_runtime import connectors
from glue_runtime.errors import ConfigError, ConnectorNotFound


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory) -> Path:
    """The connector template (`glue connectors new tap hello`, `... target hello`), built and
    installed (pip) into a folder of its own."""
    site = tmp_path_factory.mktemp("hello-site")
    source = tmp_path_factory.mktemp("hello-src")
    for kind in ("tap", "target"):
        made = run_cli("connectors", "new", kind, "hello", "--dir", str(source), cwd=source)
        assert made.code == 0, made.stderr
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source / "tap-hello"),
            str(source / "target-hello"),
        ],
        check=True,
        capture_output=True,
    )
    return site


def env_with(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_template_package_is_found_listed_and_described(hello_site: Path, tmp_path: Path):
    listed = run_cli("connectors", "list", "--json", cwd=tmp_path, env=env_with(hello_site))
    assert listed.code == 0, listed.stderr
    rows = {(c["name"], c["kind"]): c for c in json.loads(listed.stdout)}
    assert rows[("hello", "tap")]["source"] == "entry point"
    assert rows[("hello", "tap")]["version"] == "0.1.0"
    assert ("hello", "target") in rows

    about = run_cli(
        "connectors", "about", "hello", "--kind", "tap", cwd=tmp_path, env=env_with(hello_site)
    )
    assert about.code == 0, about.stderr
    assert "name" in about.stdout and "[required]" in about.stdout
    assert "api_key" in about.stdout and "secret" in about.stdout


def test_template_package_ships_py_typed(hello_site: Path):
    # the template is what connector authors copy: its hints reach their users' type checkers
    assert (hello_site / "tap_hello" / "py.typed").is_file()
    assert (hello_site / "target_hello" / "py.typed").is_file()


def test_template_runs_end_to_end_and_resumes(hello_site: Path, tmp_path: Path):
    (tmp_path / "flow.yml").write_text(
        "name: hello\n"
        "source: {connector: hello, config: {name: Ada, count: 3, api_key: zz-top-secret}}\n"
        "targets: [{connector: hello, config: {output: out.txt}}]\n"
    )
    for _ in range(2):
        result = run_cli("run", "flow.yml", cwd=tmp_path, env=env_with(hello_site))
        assert result.code == 0, result.stderr
        assert "zz-top-secret" not in result.stderr
    lines = [json.loads(line) for line in (tmp_path / "out.txt").read_text().splitlines()]
    assert [line["record"]["id"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert {line["stream"] for line in lines} == {"greetings"}


def test_config_is_checked_against_settings_before_the_run(hello_site: Path, tmp_path: Path):
    (tmp_path / "flow.yml").write_text(
        "source: {connector: hello, config: {count: many, api_key: zz-top-secret}}\n"
        "targets: [{connector: hello, config: {output: out.txt}}]\n"
    )
    result = run_cli("run", "flow.yml", cwd=tmp_path, env=env_with(hello_site))
    assert result.code == 2
    assert "missing required setting 'name'" in result.stderr
    assert "setting 'count': expected" in result.stderr
    assert "zz-top-secret" not in result.stderr
    assert not (tmp_path / "out.txt").exists()  # nothing ran


def test_connector_in_its_own_virtualenv(tmp_path: Path):
    env_dir = tmp_path / "venv-tap"
    venv.create(env_dir, with_pip=False)
    exe = env_dir / "bin" / "tap-fake"
    exe.write_text(f"#!{env_dir / 'bin' / 'python'}\n" + Path(FAKE_TAP).read_text())
    exe.chmod(0o755)
    found = connectors.resolve(str(env_dir), "tap")
    assert found.source == "venv" and found.argv == [str(exe)]
    (tmp_path / "tap.json").write_text('{"records": 4}')
    (tmp_path / "target.json").write_text(json.dumps({"output": str(tmp_path / "o.jsonl")}))
    result = run_cli(
        "run",
        "--tap",
        str(env_dir),
        "--target",
        FAKE_TARGET,
        "--tap-config",
        "tap.json",
        "--target-config",
        "target.json",
        "--state-file",
        "s.json",
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 4


def test_path_executables_are_found_by_prefix(tmp_path: Path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "tap-widgets"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert connectors.resolve("widgets", "tap").argv == [str(exe)]
    assert connectors.resolve("tap-widgets", "tap").source == "PATH"
    assert any(c.name == "tap-widgets" for c in connectors.available("tap"))


def test_unknown_connector_suggests_a_close_name(tmp_path: Path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "tap-widgets"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ConnectorNotFound, match="did you mean 'tap-widgets'"):
        connectors.resolve("tap-widget", "tap")


def test_validate_config_messages_never_show_values():
    conn = connectors.Connector("x", "tap", ["x"], "path", "x")
    conn._about = {
        "settings": {
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": {"type": "string", "secret": True},
                "port": {"type": "integer"},
            },
        }
    }
    conn._about_loaded = True
    with pytest.raises(ConfigError) as err:
        connectors.validate_config(conn, {"port": "secret-looking-5432"})
    text = str(err.value)
    assert "missing required setting 'token'" in text
    assert "setting 'port': expected integer, got str" in text
    assert "secret-looking-5432" not in text


def test_discover_caches_until_the_config_changes(hello_site: Path, tmp_path: Path):
    env = env_with(hello_site)
    (tmp_path / "a.json").write_text('{"name": "Ada"}')
    (tmp_path / "b.json").write_text('{"name": "Bob"}')
    first = run_cli(
        "discover", "hello", "--config", "a.json", "-o", "cat.json", cwd=tmp_path, env=env
    )
    assert first.code == 0, first.stderr
    assert "1 streams (discovered" in first.stderr
    catalog = json.loads((tmp_path / "cat.json").read_text())
    assert [s["tap_stream_id"] for s in catalog["streams"]] == ["greetings"]
    again = run_cli("discover", "hello", "--config", "a.json", cwd=tmp_path, env=env)
    assert "from cache" in again.stderr and json.loads(again.stdout) == catalog
    changed = run_cli("discover", "hello", "--config", "b.json", cwd=tmp_path, env=env)
    assert "(discovered" in changed.stderr
    refreshed = run_cli(
        "discover", "hello", "--config", "a.json", "--refresh", cwd=tmp_path, env=env
    )
    assert "(discovered" in refreshed.stderr


def test_failing_discovery_reports_stderr_without_secrets(tmp_path: Path):
    exe = tmp_path / "tap-broken"
    exe.write_text(
        '#!/bin/sh\necho "connecting with $(cat $2 | cut -c1-40)" >&2\n'
        "echo 'auth failed: 401' >&2\nexit 1\n"
    )
    exe.chmod(0o755)
    (tmp_path / "c.json").write_text('{"token": "tok-very-secret"}')
    result = run_cli("discover", str(exe), "--config", "c.json", cwd=tmp_path)
    assert result.code == 3
    assert "--discover exited with code 1" in result.stderr
    assert "auth failed: 401" in result.stderr
    assert "tok-very-secret" not in result.stderr
