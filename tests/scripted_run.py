"""Helpers for jobs that run the scripted tap into the scripted target, real processes both.

tests/singer/review_tap.py runs the list of steps its config holds (write these lines, wait
for that file, exit with this code...); tests/singer/review_target.py captures its input and
confirms the STATEs it is told to. ``run_api`` runs them through the Python API, ``cli_argv``
gives the arguments of the same run through the CLI.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from glue_test_helpers import SINGER, WAIT_S, write_json

import glue_runtime

REVIEW_TAP = str(SINGER / "review_tap.py")
REVIEW_TARGET = str(SINGER / "review_target.py")
SCHEMA_S = {
    "type": "SCHEMA",
    "stream": "s",
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
    "key_properties": ["id"],
}


def line(msg: dict[str, Any]) -> str:
    return json.dumps(msg) + "\n"


def schema(stream: str = "s") -> dict[str, Any]:
    return {**SCHEMA_S, "stream": stream}


def rec(i: int, stream: str = "s", **extra: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": {"id": i, **extra}}


def state(**bookmarks: Any) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": bookmarks}}


def emit(*msgs: dict[str, Any]) -> list[list[Any]]:
    """Steps that write these messages to the tap's stdout."""
    return [["out", line(m)] for m in msgs]


def never(tmp_path: Path) -> list[Any]:
    """A tap step that waits for a file that never appears: the tap runs until stopped."""
    return ["wait_file", str(tmp_path / "never"), "x", WAIT_S]


def run_api(
    tmp_path: Path,
    steps: list[list[Any]],
    targets: list[dict[str, Any]] | None = None,
    tap_extra: dict[str, Any] | None = None,
    **kwargs: Any,
) -> glue_runtime.JobResult:
    """Run the scripted tap's ``steps`` into one scripted target per ``targets`` config."""
    targets = targets or [{"output": str(tmp_path / "out0.jsonl")}]
    return glue_runtime.run(
        REVIEW_TAP,
        [REVIEW_TARGET] * len(targets),
        tap_config={"steps": steps, **(tap_extra or {})},
        target_config=targets,
        state_file=tmp_path / "state.json",
        **kwargs,
    )


def cli_argv(tmp_path: Path, steps: list[list[Any]], target: dict[str, Any], **tap: Any):
    """`glue run` arguments for the same job, its config files written in tmp_path."""
    write_json(tmp_path / "tap.json", {"steps": steps, **tap})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out0.jsonl"), **target})
    return [
        "run", "--tap", REVIEW_TAP, "--target", REVIEW_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json",
    ]  # fmt: skip


def committed(tmp_path: Path) -> Any:
    """The state file's content, or None when nothing was ever committed."""
    path = tmp_path / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
