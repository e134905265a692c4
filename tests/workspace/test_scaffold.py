"""`glue connectors new tap|target NAME`: a singer-sdk package that installs and is found."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from glue_test_helpers import run_cli, write_json


def new(kind: str, name: str, into: Path):
    return run_cli("connectors", "new", kind, name, "--dir", str(into), cwd=into)


def test_generated_files_declare_the_script_and_entry_point(tmp_path: Path) -> None:
    assert new("tap", "my-api", tmp_path).code == 0
    made = new("target", "target-warehouse", tmp_path)  # the kind prefix may be given
    assert made.code == 0, made.stderr
    assert made.stdout.strip() == str(tmp_path / "target-warehouse")

    tap, target = tmp_path / "tap-my-api", tmp_path / "target-warehouse"
    assert sorted(str(p.relative_to(tap)) for p in tap.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "tap_my_api/__init__.py",
        "tap_my_api/py.typed",
        "tap_my_api/tap.py",
        "tests/test_core.py",
    ]
    project = tomllib.loads((tap / "pyproject.toml").read_text())["project"]
    assert project["name"] == "tap-my-api"
    assert project["scripts"] == {"tap-my-api": "tap_my_api.tap:TapMyApi.cli"}
    assert project["entry-points"] == {"glue_runtime.taps": {"my-api": "tap_my_api.tap:TapMyApi"}}
    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    assert project["entry-points"] == {
        "glue_runtime.targets": {"warehouse": "target_warehouse.target:TargetWarehouse"}
    }
    assert "get_tap_test_class(TapMyApi" in (tap / "tests" / "test_core.py").read_text()
    assert (
        "get_target_test_class(TargetWarehouse" in (target / "tests" / "test_core.py").read_text()
    )
    for path in [*tap.rglob("*.py"), *target.rglob("*.py")]:
        compile(path.read_text(), str(path), "exec")  # no placeholder left unfilled
        assert "{{" not in path.read_text()
    assert oct((tap).stat().st_mode & 0o777) == "0o755"


def test_bad_names_and_existing_folders_are_refused(tmp_path: Path) -> None:
    assert new("tap", "hello", tmp_path).code == 0
    (tmp_path / "tap-hello" / "README.md").write_text("mine")
    again = new("tap", "hello", tmp_path)
    assert again.code == 2 and "already exists" in again.stderr
    assert (tmp_path / "tap-hello" / "README.md").read_text() == "mine"
    for bad in ("Hello", "my api", "../x", "1x", "a--b"):
        result = new("tap", bad, tmp_path)
        assert result.code == 2 and "cannot name a package" in result.stderr, bad
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tap-hello"]


def throwaway_venv(folder: Path) -> Path:
    """A venv that sees this environment's packages (singer-sdk, pytest, glue_runtime) through a
    .pth file, so installing the scaffolded packages needs nothing from an index."""
    venv.create(folder, with_pip=False)
    purelib = subprocess.run(
        [
            str(folder / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = site.getsitepackages()[0]
    (Path(purelib) / "dev-env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return folder / "bin" / "python"


@pytest.mark.slow
def test_scaffolded_tap_and_target_install_pass_their_tests_and_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    assert new("tap", "hello", src).code == 0
    assert new("target", "hello", src).code == 0
    python = throwaway_venv(tmp_path / "venv")
    env = {**os.environ, "PYTHONPATH": ""}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(src / "tap-hello"),
            str(src / "target-hello"),
        ],
        check=True,
        env=env,
    )
    for package in ("tap-hello", "target-hello"):  # their own singer-sdk standard tests
        tests = subprocess.run(
            [
                str(python),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                "tests",
            ],
            cwd=src / package,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
        assert " passed" in tests.stdout

    glue = [str(python), "-m", "glue_runtime"]
    listed = subprocess.run(
        [*glue, "connectors", "list", "--json"], capture_output=True, text=True, env=env
    )
    rows = {(c["name"], c["kind"]): c for c in json.loads(listed.stdout)}
    assert rows[("hello", "tap")]["location"].startswith("tap-hello")
    assert rows[("hello", "target")]["location"].startswith("target-hello")

    write_json(tmp_path / "tap.json", {"name": "Ada", "count": 2, "api_key": "zz-secret"})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    ran = subprocess.run(
        [
            *glue,
            "run",
            "--tap",
            "hello",
            "--tap-config",
            str(tmp_path / "tap.json"),
            "--target",
            "hello",
            "--target-config",
            str(tmp_path / "target.json"),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert "zz-secret" not in ran.stdout + ran.stderr
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert lines == [
        {"stream": "greetings", "record": {"id": 1, "text": "hello Ada #1"}},
        {"stream": "greetings", "record": {"id": 2, "text": "hello Ada #2"}},
    ]
