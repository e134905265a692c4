"""Fixtures shared by the runner's tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import FAKE_TAP, FAKE_TARGET, CliResult, read_jsonl, run_cli, write_json


@pytest.fixture(scope="session", autouse=True)
def _glue_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """The runtime's caches (--about answers, the entry-point index) in a folder of the session:
    the fake connectors of the tests stay out of the user's ~/.cache, and every session starts
    cold. Subprocesses inherit it through the environment."""
    old = os.environ.get("GLUE_CACHE_DIR")
    os.environ["GLUE_CACHE_DIR"] = str(tmp_path_factory.mktemp("glue-cache"))
    yield
    if old is None:
        os.environ.pop("GLUE_CACHE_DIR", None)
    else:
        os.environ["GLUE_CACHE_DIR"] = old


@pytest.fixture
def job(tmp_path: Path):
    """Builds tap/target config files in tmp_path and runs the CLI on them."""

    class Job:
        dir = tmp_path
        state = tmp_path / "state.json"
        out = tmp_path / "out.jsonl"

        def configs(self, tap: dict[str, Any], target: dict[str, Any] | None = None) -> list[str]:
            target = {"output": str(self.out), **(target or {})}
            write_json(tmp_path / "tap.json", tap)
            write_json(tmp_path / "target.json", target)
            return ["--tap-config", "tap.json", "--target-config", "target.json"]

        def run(
            self, tap: dict[str, Any], target: dict[str, Any] | None = None, *extra: str
        ) -> CliResult:
            return run_cli(
                "run",
                "--tap",
                FAKE_TAP,
                "--target",
                FAKE_TARGET,
                *self.configs(tap, target),
                "--state-file",
                str(self.state),
                *extra,
                cwd=tmp_path,
            )

        def argv(self) -> list[str]:
            """The CLI command line for a run on the configs written by configs()."""
            return [
                sys.executable, "-m", "glue_runtime", "run", "--tap", FAKE_TAP,
                "--target", FAKE_TARGET, "--tap-config", "tap.json",
                "--target-config", "target.json", "--state-file", "state.json",
            ]  # fmt: skip

        def committed(self) -> dict[str, Any]:
            return json.loads(self.state.read_text()) if self.state.exists() else {}

        def confirmed(self) -> list[dict[str, Any]]:
            return read_jsonl(Path(str(self.out) + ".states"))

        def records(self) -> list[dict[str, Any]]:
            return read_jsonl(self.out)

    return Job()
