"""Fixtures: a fresh fake API server per test, and an in-process tap run."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from glue_rest.tap import TapRest
from rest_fake_api import FakeAPI, start


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server, fake = start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def config_for(api: FakeAPI, *streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A tap config for the fake API with fast retries."""
    return {
        "base_url": f"{api.base_url}/v1",
        "streams": list(streams),
        "backoff_factor": 0.01,
        **extra,
    }


@pytest.fixture
def run_tap(capsys: pytest.CaptureFixture) -> Callable[..., list[dict]]:
    """Run a TapRest sync in-process; return the Singer messages it wrote."""

    def run(config: dict[str, Any], state: dict | None = None, **kwargs: Any) -> list[dict]:
        capsys.readouterr()
        TapRest(config=config, state=state, **kwargs).sync_all()
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    return run


def records_of(messages: list[dict], stream: str | None = None) -> list[dict]:
    return [
        m["record"]
        for m in messages
        if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
    ]


def last_state(messages: list[dict]) -> dict:
    return [m for m in messages if m["type"] == "STATE"][-1]["value"]


@pytest.fixture
def h() -> Any:
    """Helpers (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(config=config_for, records=records_of, state=last_state)
