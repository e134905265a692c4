"""Running the app under uvicorn: what ``glue serve`` does once the workspace is open.

uvicorn owns the signals: on SIGTERM or Ctrl-C it stops accepting connections, lets the
requests in flight finish, then runs the app's lifespan shutdown, which stops the background
parts with the grace period (the executor lets running jobs finish for that long, then
cancels them the way Ctrl-C does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import FrameType

import uvicorn

from glue_runtime.service.app import create_app
from glue_runtime.service.background import PARTS, build_parts
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.settings import ServerSettings
from glue_runtime.workspace.open import Opened

log = logging.getLogger("glue_runtime.service")


class _NoQuery(logging.Filter):
    """Access log lines without query strings: an OAuth callback's carries its code."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop by SIGTERM or Ctrl-C that drained is a clean exit (0):
    uvicorn would raise the signal again after shutdown, which the CLI reports as 130."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def serve(
    opened: Opened,
    settings: ServerSettings,
    *,
    parts: Sequence[str] = tuple(PARTS),
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve ``opened`` until SIGTERM or Ctrl-C, then drain (see the module's docstring)."""
    ctx = ServiceContext(opened)
    ctx.extra["settings"] = settings
    built = build_parts(ctx, parts)
    app = create_app(ctx, parts=built, grace_s=settings.grace_s)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.grace_s)),
        server_header=False,
        access_log=access_log,
    )
    logging.getLogger("uvicorn.access").addFilter(_NoQuery())
    log.info(
        "glue serve: workspace %s at %s (%s)",
        opened.workspace.name,
        settings.base_url,
        ", ".join(name for name, _ in built) or "no background parts",
    )
    _Server(config).run()
