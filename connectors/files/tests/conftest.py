"""Shared fixtures: run the tap and the target in-process on real files."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from glue_files.tap import TapFiles
from glue_files.target import TargetFiles

BIN = Path(sys.executable).parent


def schema_msg(stream: str, props: dict[str, Any], keys: list[str] | None = None) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": props},
        "key_properties": keys or [],
    }


def record_msg(stream: str, record: dict[str, Any]) -> dict:
    return {"type": "RECORD", "stream": stream, "record": record}


def state_msg(value: dict[str, Any]) -> dict:
    return {"type": "STATE", "value": value}


def set_mtime(path: Path, epoch_s: float) -> None:
    os.utime(path, (epoch_s, epoch_s))


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def run_tap(capsys: pytest.CaptureFixture) -> Callable[..., list[dict]]:
    """Run a TapFiles sync; return the Singer messages it wrote."""

    def run(config: dict[str, Any], state: dict | None = None) -> list[dict]:
        capsys.readouterr()
        TapFiles(config=config, state=state, validate_config=True).sync_all()
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    return run


@pytest.fixture
def run_target(capsys: pytest.CaptureFixture) -> Callable[..., list[Any]]:
    """Feed messages to a TargetFiles; return the states it emitted."""

    def run(config: dict[str, Any], messages: list[dict], cls: type = TargetFiles) -> list[Any]:
        capsys.readouterr()
        text = "".join(json.dumps(m) + "\n" for m in messages)
        cls(config=config).listen(io.StringIO(text))
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    return run


@pytest.fixture
def h() -> SimpleNamespace:
    """Message builders and file helpers (conftest is not importable under importlib mode)."""
    return SimpleNamespace(
        schema=schema_msg,
        record=record_msg,
        state=state_msg,
        set_mtime=set_mtime,
        jsonl=jsonl,
        records=lambda msgs, stream=None: [
            m["record"]
            for m in msgs
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ],
        states=lambda msgs: [m["value"] for m in msgs if m["type"] == "STATE"],
        bin=BIN,
    )
