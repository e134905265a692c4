"""The background parts of `glue serve`: built from PARTS (a missing module skipped), started
in order by the app's lifespan, reachable in ctx.extra, stopped in reverse with the grace."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from workspace.conftest_run import Workspace

from glue_runtime.service import background
from glue_runtime.service.context import ServiceContext
from service.conftest import serve_app


class Recorder:
    """A part that records what the lifespan asks of it."""

    def __init__(self, name: str, events: list[str], fail: str = "") -> None:
        self.name, self.events, self.fail = name, events, fail

    def start(self) -> None:
        if self.fail == "start":
            raise RuntimeError(f"{self.name} cannot start")
        self.events.append(f"start {self.name}")

    def stop(self, grace_s: float) -> None:
        self.events.append(f"stop {self.name} {grace_s:g}")
        if self.fail == "stop":
            raise RuntimeError(f"{self.name} cannot stop")


def test_the_lifespan_starts_parts_in_order_and_stops_them_in_reverse(
    workspace_dir: Workspace,
) -> None:
    events: list[str] = []
    parts: list[tuple[str, Any]] = [
        ("executor", Recorder("executor", events, fail="stop")),
        ("scheduler", Recorder("scheduler", events)),
    ]
    with serve_app(workspace_dir.root, parts) as server:
        assert events == ["start executor", "start scheduler"]
        assert server.ctx.extra["executor"] is parts[0][1]
    assert events[2:] == ["stop scheduler 5", "stop executor 5"]  # one failing stops the rest
    assert "executor" not in server.ctx.extra


def test_a_part_that_cannot_start_stops_the_ones_started(workspace_dir: Workspace) -> None:
    events: list[str] = []
    parts: list[tuple[str, Any]] = [
        ("executor", Recorder("executor", events)),
        ("scheduler", Recorder("scheduler", events, fail="start")),
    ]
    ctx = ServiceContext(None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="scheduler cannot start"):
        background.start_parts(ctx, parts)
    assert events == ["start executor", "stop executor 0"]
    assert ctx.extra == {}


def test_a_part_whose_module_is_missing_is_skipped_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(background.PARTS, "deliverer", "glue_runtime.service.not_written:Part")
    with caplog.at_level(logging.INFO, logger="glue_runtime.service"):
        assert background.part_class("deliverer") is None
    assert "no deliverer in this build" in caplog.text
    monkeypatch.setitem(background.PARTS, "deliverer", "glue_runtime.service.keys:NoSuchClass")
    assert background.part_class("deliverer") is None


def test_a_part_whose_own_import_fails_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    (tmp_path / "broken_part.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(background.PARTS, "deliverer", "broken_part:Part")
    with pytest.raises(ModuleNotFoundError, match="not_a_module_anywhere"):
        background.part_class("deliverer")
