"""`glue serve`: the HTTP service for a workspace (docs/server.md)."""

from __future__ import annotations

import dataclasses

import click

from glue_runtime.cli import main
from glue_runtime.errors import UsageError

MISSING = "glue serve needs the server extra (FastAPI, uvicorn, croniter, prometheus-client)"


def _need_server_extra() -> None:
    """A named error, not an ImportError traceback, when the server extra is not installed."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"{MISSING}; {exc.name} is not installed",
            hint="pip install 'glue-runtime[server]'",
        ) from None


@main.command(name="serve")
@click.option(
    "--host", default=None, help="Address to listen on (glue.yml server.host; 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port to listen on (server.port; 8765).")
@click.option(
    "--no-executor",
    is_flag=True,
    help="Run no jobs here: only accept and queue them (another server or worker runs them).",
)
@click.option(
    "--grace",
    default=None,
    metavar="DURATION",
    help="How long running jobs get to finish on SIGTERM before they are cancelled (30s).",
)
@click.option(
    "--no-access-log", is_flag=True, help="Log no line per request (query strings never are)."
)
def serve(
    host: str | None, port: int | None, no_executor: bool, grace: str | None, no_access_log: bool
) -> None:
    """Serve the workspace's HTTP API, triggers, schedules and events until SIGTERM/Ctrl-C.

    On SIGTERM or Ctrl-C it stops accepting, lets running jobs finish for the grace period,
    then cancels them the way Ctrl-C cancels a run (bookmarks stay at what targets confirmed).
    """
    _need_server_extra()
    from glue_runtime.service.background import PARTS
    from glue_runtime.service.server import serve as run_server
    from glue_runtime.service.settings import parse_server
    from glue_runtime.timeouts import parse_duration
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        settings = parse_server(opened.workspace.server)
        changes: dict[str, object] = {}
        if host is not None:
            changes["host"] = host
        if port is not None:
            if not 0 <= port <= 65535:
                raise UsageError(f"--port {port} is not a TCP port (0 to 65535)")
            changes["port"] = port
        if grace is not None:
            changes["grace_s"] = parse_duration(grace, where="--grace") or 0.0
        settings = dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
        parts = [name for name in PARTS if not (no_executor and name == "executor")]
        run_server(opened, settings, parts=parts, access_log=not no_access_log)
