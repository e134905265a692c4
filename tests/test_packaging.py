"""The wheels ship what users need: the license, and py.typed so type checkers read our hints.

Each package is built from a copy of its sources (the worktree stays clean) with the build
backend its pyproject.toml names, and the build must emit no license deprecation warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = [
    (".", "glue_runtime"),
    ("connectors/files", "glue_files"),
    ("connectors/postgres", "glue_postgres"),
    ("connectors/rest", "glue_rest"),
    ("connectors/sqlite", "glue_sqlite"),
]
BUILD = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"


def copy_sources(src: Path, dst: Path, package: str) -> None:
    """The files a build reads: pyproject.toml, README/LICENSE, and the package itself."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    shutil.copytree(
        src / package, dst / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )


@pytest.mark.parametrize(("folder", "package"), PACKAGES, ids=[p for _, p in PACKAGES])
def test_wheel_has_license_and_py_typed_and_builds_without_deprecation(
    tmp_path: Path, folder: str, package: str
) -> None:
    src = tmp_path / "src"
    copy_sources(REPO / folder, src, package)
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", BUILD, str(tmp_path / "dist")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Deprecat" not in output and "deprecated" not in output, output[-3000:]
    wheel = tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        license_text = zf.read(f"{dist_info}/licenses/LICENSE").decode()
    assert f"{package}/py.typed" in names
    if package == "glue_runtime":  # what `glue connectors new` writes from
        for kind in ("tap", "target"):
            assert f"glue_runtime/workspace/templates/{kind}/pyproject.toml.tmpl" in names
            assert f"glue_runtime/workspace/templates/{kind}/__package__/py.typed.tmpl" in names
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
