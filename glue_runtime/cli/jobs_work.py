"""`glue jobs work`: run queued jobs in the foreground (the executor of `glue serve`, no HTTP)."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from glue_runtime.cli.jobs import jobs_group


@jobs_group.command(name="work")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Most jobs this process runs at once (default: glue.yml jobs.concurrency, else 2).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="On SIGTERM or Ctrl-C, seconds running jobs may take to finish before they are "
    "stopped as Ctrl-C stops a run (a second signal ends the grace period at once).",
)
@click.option(
    "--kill-after",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds a stopped job has to drain before it is killed.",
)
def work(concurrency: int | None, grace: float, kill_after: float) -> None:
    """Run the workspace's queued jobs until SIGTERM or Ctrl-C, which drain (docs/jobs.md).

    The same executor `glue serve` runs in the background. Several `glue jobs work` processes
    (on several machines) can share one PostgreSQL store: the limits hold across them.
    """
    from glue_runtime.jobs.executor import EmbeddedExecutor
    from glue_runtime.service.context import ServiceContext
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        executor = EmbeddedExecutor(
            ServiceContext(opened), concurrency=concurrency, kill_after_s=kill_after
        )
        stop = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            name = signal.Signals(signum).name
            if stop.is_set():
                click.echo(f"{name}: stopping the running jobs now", err=True)
                executor.end_grace()
                return
            click.echo(
                f"{name}: draining (running jobs have {grace:g}s to finish; queued jobs stay "
                "queued)",
                err=True,
            )
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, on_signal)
        executor.start()
        click.echo(
            f"running queued jobs of {opened.workspace.root} ({executor.concurrency} at once); "
            "Ctrl-C or SIGTERM drains",
            err=True,
        )
        while not stop.wait(1.0):
            pass
        executor.stop(grace)
        click.echo("stopped", err=True)
