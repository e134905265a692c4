"""Finding connectors the workspace installed: a name becomes the executable in its venv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glue_runtime import connectors
from glue_runtime.errors import ConnectorNotFound
from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.installs import (
    installed_executable,
    resolve_connector,
    workspace_connectors,
)

GLUE_YML = """\
name: shop
connectors:
  glue-connector-hello:
    pip_url: ./hello
    executables: [tap-hello, target-hello]
  tap-solo:
    pip_url: tap-solo==1.0
    executables: [tap-solo]
"""


def fake_venv(root: Path, name: str, *exes: str) -> Path:
    bin_dir = root / ".glue" / "venvs" / name / "bin"
    bin_dir.mkdir(parents=True)
    for exe in exes:
        (bin_dir / exe).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / exe).chmod(0o755)
    return bin_dir


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "glue.yml").write_text(GLUE_YML)
    return tmp_path


def test_names_resolve_to_the_executables_in_the_managed_venv(root: Path) -> None:
    hello = fake_venv(root, "glue-connector-hello", "tap-hello", "target-hello")
    solo = fake_venv(root, "tap-solo", "tap-solo")
    ws = load_workspace(root)
    assert resolve_connector(ws, "tap-hello") == str(hello / "tap-hello")
    assert resolve_connector(ws, "hello", "target") == str(hello / "target-hello")
    assert resolve_connector(ws, "tap-solo") == str(solo / "tap-solo")
    assert resolve_connector(ws, "solo") == str(solo / "tap-solo")
    assert installed_executable(ws, "hello", "tap") == hello / "tap-hello"
    # the package with a tap and a target: its venv, which the resolution reads by kind
    package = resolve_connector(ws, "glue-connector-hello")
    assert package == str(root / ".glue" / "venvs" / "glue-connector-hello")
    assert connectors.resolve(package, "target").argv == [os.path.realpath(hello / "target-hello")]
    assert installed_executable(ws, "glue-connector-hello") is None  # ambiguous without a kind


def test_other_names_are_left_to_the_ordinary_resolution(root: Path) -> None:
    fake_venv(root, "tap-solo", "tap-solo")
    ws = load_workspace(root)
    assert resolve_connector(ws, "files") == "files"
    assert resolve_connector(ws, "./my-tap") == "./my-tap"
    assert installed_executable(ws, "files", "tap") is None


def test_recorded_but_not_installed_is_a_named_error(root: Path) -> None:
    ws = load_workspace(root)
    with pytest.raises(ConnectorNotFound) as err:
        resolve_connector(ws, "tap-hello")
    assert "glue-connector-hello" in str(err.value)
    assert "glue connectors install" in str(err.value)
    assert installed_executable(ws, "tap-hello") is None


def test_workspace_connectors_lists_what_is_installed_here(root: Path) -> None:
    fake_venv(root, "glue-connector-hello", "tap-hello", "target-hello")
    found = {(c.name, c.kind, c.source) for c in workspace_connectors(load_workspace(root))}
    assert found == {("tap-hello", "tap", "workspace"), ("target-hello", "target", "workspace")}
