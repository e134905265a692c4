"""The background parts of ``glue serve``: the executor, the scheduler, the event deliverer.

Each is a class built as ``Part(ctx)`` with ``start()`` (returns at once; its loop runs in a
thread of its own) and ``stop(grace_s)`` (returns once stopped). The server's lifespan starts
them in order and stops them in reverse; a part is reachable by its name in ``ctx.extra``
(the jobs API calls ``ctx.extra["executor"].notify()`` after queueing a job).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Protocol

from glue_runtime.service.context import ServiceContext

log = logging.getLogger("glue_runtime.service")

PARTS: dict[str, str] = {
    "executor": "glue_runtime.jobs.executor:EmbeddedExecutor",
    "scheduler": "glue_runtime.service.schedules.scheduler:Scheduler",
    "deliverer": "glue_runtime.service.delivery:Deliverer",
}


class Part(Protocol):
    """What the lifespan needs of a background part."""

    def start(self) -> None: ...

    def stop(self, grace_s: float) -> None: ...


class PartFactory(Protocol):
    def __call__(self, ctx: ServiceContext) -> Part: ...


def part_class(name: str) -> PartFactory | None:
    """The class of part ``name``; None (with a log line) while its module is not written yet."""
    module_name, _, attr = PARTS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            log.info("glue serve: no %s in this build (%s is missing); skipped", name, exc.name)
            return None
        raise
    factory = getattr(module, attr, None)
    if factory is None:
        log.info("glue serve: no %s in this build (%s has no %s); skipped", name, module_name, attr)
    return factory


def build_parts(ctx: ServiceContext, names: Iterable[str]) -> list[tuple[str, Part]]:
    """The parts ``names`` built over ``ctx`` (those not in this build left out)."""
    built: list[tuple[str, Part]] = []
    for name in names:
        factory = part_class(name)
        if factory is not None:
            built.append((name, factory(ctx)))
    return built


def start_parts(ctx: ServiceContext, parts: list[tuple[str, Part]]) -> None:
    """Start each part and make it reachable as ``ctx.extra[name]``."""
    started: list[tuple[str, Part]] = []
    for name, part in parts:
        ctx.extra[name] = part
        try:
            part.start()
        except BaseException:
            ctx.extra.pop(name, None)
            stop_parts(ctx, started, 0.0)  # the server will not start: leave nothing running
            raise
        started.append((name, part))
        log.info("glue serve: %s started", name)


def stop_parts(ctx: ServiceContext, parts: list[tuple[str, Part]], grace_s: float) -> None:
    """Stop the parts in reverse order; one that fails to stop does not keep the others up."""
    for name, part in reversed(parts):
        try:
            part.stop(grace_s)
            log.info("glue serve: %s stopped", name)
        except Exception:
            log.exception("glue serve: %s did not stop cleanly", name)
        ctx.extra.pop(name, None)
