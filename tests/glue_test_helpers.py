"""Test helpers: the fake Singer executables and a CLI runner that starts a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SINGER = Path(__file__).parent / "singer"
FAKE_TAP = str(SINGER / "fake_tap.py")
FAKE_TARGET = str(SINGER / "fake_target.py")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    """Run ``python -m glue_runtime ARGS`` as a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "glue_runtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
