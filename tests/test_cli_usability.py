"""What a newcomer runs into first: connector names, saved tap output, defaults, readable logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TARGET, run_cli, write_json

from glue_runtime import connectors
from glue_runtime.errors import ConnectorNotFound


def _bin_with(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A folder holding an executable ``name`` that leaves a marker file when it runs."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    marker = tmp_path / f"{name}-ran"
    exe = bindir / name
    exe.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    exe.chmod(0o755)
    return bindir, marker


# -- bare connector names ------------------------------------------------------------------


def test_a_bare_name_never_runs_an_arbitrary_program_on_path(tmp_path: Path, monkeypatch):
    bindir, marker = _bin_with(tmp_path, "file")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ConnectorNotFound) as err:
        connectors.resolve("file", "tap")
    text = str(err.value)
    assert "did you mean 'files'?" in text
    assert f"{bindir / 'file'} is on PATH but is not a tap" in text
    with pytest.raises(ConnectorNotFound):
        connectors.resolve("file", "target")
    # A path still runs anything.
    assert connectors.resolve(str(bindir / "file"), "tap").argv == [str(bindir / "file")]
    assert not marker.exists()


def test_cli_refuses_bare_program_names(tmp_path: Path):
    bindir, marker = _bin_with(tmp_path, "file")
    _, marker3 = _bin_with(tmp_path, "sqlite3")
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    write_json(tmp_path / "t.json", {"output": str(tmp_path / "o.jsonl")})
    ran = run_cli(
        "run", "--tap", "file", "--target", FAKE_TARGET, "--target-config", "t.json",
        "--state-file", "s.json", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert ran.code == 2, ran.stderr
    assert "no tap called 'file'" in ran.stderr and "did you mean 'files'?" in ran.stderr
    ran = run_cli(
        "run", "--tap", "files", "--target", "sqlite3", "--state-file", "s.json",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert ran.code == 2, ran.stderr
    assert "no target called 'sqlite3'" in ran.stderr and "'sqlite'" in ran.stderr
    about = run_cli("connectors", "about", "file", cwd=tmp_path, env=env)
    assert about.code == 2, about.stdout
    assert "did you mean 'files'?" in about.stderr
    assert not marker.exists() and not marker3.exists()
    listed = run_cli("connectors", "list", cwd=tmp_path, env=env)
    assert listed.code == 0
    assert not any(line.split()[0] in ("file", "sqlite3") for line in listed.stdout.splitlines())
