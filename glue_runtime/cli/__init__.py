"""The command line: ``python -m glue_runtime`` (or ``glue``)."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from glue_runtime import connectors, defaults, logs, plan
from glue_runtime.errors import (
    EXIT_CODES,
    ConfigError,
    GlueError,
    Interrupted,
    StateError,
    UsageError,
)
from glue_runtime.flow import load_flow
from glue_runtime.result import JobResult
from glue_runtime.runner import Job
from glue_runtime.state import FileStateStore, SingleFileStateStore
from glue_runtime.timeouts import Timeouts, parse_cli_timeouts

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@contextlib.contextmanager
def _writing(path: str | Path, what: str) -> Iterator[None]:
    """An output file the user named that cannot be written is a usage error, not a crash."""
    try:
        yield
    except OSError as exc:
        raise UsageError(
            f"cannot write {what} to {path}: {exc.strerror or exc}",
            hint="check that its folder exists and is writable and the disk has room",
        ) from None


def _echo_json(value: Any) -> None:
    from glue_runtime.protocol import dumps_exact  # numbers exact (a state's big bookmarks)

    try:
        text = dumps_exact(value, orjson.OPT_INDENT_2)
    except TypeError:  # a value JSON has no type for (a path, say): as text
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str)
    click.echo(text.decode())


# The workspace layer's command modules (glue_runtime/cli/<module>.py), imported when one of
# their commands is asked for: they import yaml, SQLAlchemy and cryptography, which a tiny
# `glue run` of a flow file must not pay for at start-up.
_LAZY_COMMANDS: dict[str, tuple[str, ...]] = {
    "connectors": ("flows",),  # adds `connectors available`
    "events": ("events",),
    "flows": ("flows",),
    "init": ("init",),
    "jobs": ("jobs", "jobs_work"),
    "keys": ("keys",),
    "link": ("links",),
    "links": ("links",),
    "unlink": ("links",),
    "schedules": ("schedules",),
    "secrets": ("secrets",),
    "serve": ("serve",),
    "store": ("store",),
    "tenants": ("tenants",),
    "triggers": ("triggers",),
}


def _load_commands(modules: Iterable[str]) -> None:
    for module in sorted(modules):
        importlib.import_module(f"glue_runtime.cli.{module}")


class GlueGroup(click.Group):
    """Turns GlueErrors into a clear message and their documented exit code.

    Ctrl-C (or SIGTERM, see :class:`_Signals`) outside a running job is exit 130 with a short
    message, not click's "Aborted!" and exit 1 (exit 1 means a bug in glue_runtime).
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        _load_commands(_LAZY_COMMANDS.get(cmd_name, ()))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _load_commands({m for modules in _LAZY_COMMANDS.values() for m in modules})
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GlueError as exc:
            log_format = (ctx.obj or {}).get("log_format", "text")
            _echo_error(exc, exc.exit_code, log_format)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            name = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "SIGINT"
            if ctx.invoked_subcommand == "run" and not Job.jobs_started:
                what = "during start-up: no connector ran and no state was committed"
            elif ctx.invoked_subcommand == "run":  # between a batch job's phases, say
                what = "between job phases; `glue state show` has what was committed"
            else:
                what = f"before `{ctx.invoked_subcommand}` finished"
            click.echo(f"\ninterrupted by {name} {what}", err=True)
            ctx.exit(Interrupted.exit_code)


class _Signals:
    """SIGINT, SIGTERM and SIGHUP while the CLI is not inside a job.

    Before a job starts (discovery, checks, connector look-ups) either signal stops the command
    with exit 130 and cleans up as an exception does (SIGTERM used to kill it outright); later
    signals are ignored while it exits, so a second Ctrl-C cannot turn that into a traceback. A
    job installs its own handler while it runs. Once `glue run` has its job's result, a signal
    is logged and ignored, so the summary is printed and the exit code is the job's.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: as in a job

    def __init__(self) -> None:
        self.job_done = False
        self.stopping = False  # interrupted: exiting with 130, further signals are ignored
        self._old: dict[int, Any] = {}

    def __call__(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stopping:
            return
        if self.job_done:
            # Suppressed: a write interrupted by this very signal may refuse a nested write.
            with contextlib.suppress(RuntimeError, OSError):
                click.echo(f"{name} received after the job finished: finishing", err=True)
            return
        self.stopping = True  # from here on the command is exiting with 130
        raise KeyboardInterrupt(name)

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self) for s in self.SIGNALS}

    def restore(self) -> None:
        if self.stopping:
            return  # the process is exiting: keep ignoring signals until it has
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}


def _echo_error(error: GlueError, exit_code: int, log_format: str, **extra: Any) -> None:
    """An error on stderr: ``error: ...`` and its hint, or one JSON line with --log-format json."""
    if log_format != "json":
        click.echo(f"error: {error}", err=True)
        return
    line = {
        "ts": round(time.time(), 3),
        "level": "error",
        "event": "error",
        **extra,
        "kind": error.kind,
        "message": error.message,
        "hint": error.hint,
        "exit_code": exit_code,
    }
    click.echo(orjson.dumps(line, default=str).decode(), err=True)


def _note(message: str, level: str = "info") -> None:
    """A status line on stderr: as written, or one JSON object with --log-format json."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if ((root.obj if root is not None else None) or {}).get("log_format") != "json":
        click.echo(message, err=True)
        return
    line = {"ts": round(time.time(), 3), "level": level, "event": "note", "message": message}
    click.echo(orjson.dumps(line).decode(), err=True)


@click.group(cls=GlueGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text, or one JSON object per line.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="How much to log.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Everything: connectors' tracebacks and metrics (same as --log-level DEBUG).",
)
@click.option(
    "-W",
    "--workspace",
    type=click.Path(file_okay=False),
    help="The workspace folder (default: GLUE_WORKSPACE, else the nearest glue.yml upwards).",
)
@click.version_option(package_name="glue-runtime")
@click.pass_context
def main(
    ctx: click.Context, log_format: str, log_level: str, verbose: bool, workspace: str | None
) -> None:
    """glue_runtime: run Singer connectors with field maps, ETL scripts and bookmarks."""
    if workspace:
        os.environ["GLUE_WORKSPACE"] = str(Path(workspace).resolve())
    _quick_shutdown()
    logs.setup(log_format, "DEBUG" if verbose else log_level)
    signals = _Signals()
    signals.install()
    ctx.call_on_close(signals.restore)
    ctx.obj = {"log_format": log_format, "signals": signals}


_QUICK_SHUTDOWN: list[bool] = []


def _quick_shutdown() -> None:
    """At exit (after the atexit handlers registered later, i.e. everything the command set
    up), freeze the objects still alive out of the cyclic garbage collector: interpreter
    shutdown runs collections that walk all of them, 0.1-0.2 s of a tiny job's wall time.
    Files are still closed and logs flushed; see glue_runtime.launch, which does the same for
    connector processes. Only for the command line: an embedding program's exit is its own."""
    if not _QUICK_SHUTDOWN:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _QUICK_SHUTDOWN.append(True)


# -- run -------------------------------------------------------------------------------------


@main.command()
@click.argument("flow_file", required=False, type=click.Path(dir_okay=False))
@click.option("--tap", help="Tap: connector name, tap-NAME executable on PATH, or path.")
@click.option("--target", "targets", multiple=True, help="Target (repeat for several).")
@click.option("--tap-config", type=click.Path(dir_okay=False), help="Tap config JSON file.")
@click.option(
    "--target-config",
    "target_configs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Target config JSON file (one per --target, same order).",
)
@click.option("--catalog", type=click.Path(dir_okay=False), help="Catalog JSON to give the tap.")
@click.option("--field-map", type=click.Path(dir_okay=False), help="Field map file.")
@click.option(
    "--mapper",
    "mappers",
    multiple=True,
    help="Singer mapper executable run after the field map (repeat for a chain, in order).",
)
@click.option(
    "--mapper-config",
    "mapper_configs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Mapper config JSON file (one per --mapper, same order).",
)
@click.option("--etl", type=click.Path(dir_okay=False), help="ETL script (Python file).")
@click.option("--state-file", type=click.Path(dir_okay=False), help="Keep state in this file.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help=f"State store folder (default {defaults.STATE_DIR}).",
)
@click.option("--state-key", help="State key (default: flow name, or TAP-to-TARGET).")
@click.option("--full-refresh", is_flag=True, help="Ignore bookmarks: re-read the streams whole.")
@click.option(
    "--max-line-bytes",
    type=int,
    default=None,
    help="Fail on a Singer line longer than this (default 64 MiB).",
)
@click.option(
    "--timeout",
    "timeouts",
    multiple=True,
    metavar="NAME=DURATION",
    help="Override a timeout: idle, drain, about or discover, in seconds or as 90s, 30m, 2h; "
    "0 turns it off (repeat for several).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Live progress line (default: on a terminal)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the job result as JSON on stdout.")
@click.option("--tenant", help="Workspace flow: run this tenant's linked sources.")
@click.option("--all-tenants", is_flag=True, help="Workspace flow: every tenant, one by one.")
@click.option("--connector", help="Workspace flow: only this source.")
@click.option(
    "--refresh-catalog", is_flag=True, help="Workspace flow: discover each link's catalog again."
)
@click.option(
    "--sync-type",
    type=click.Choice(["incremental", "full", "reset"]),
    help="Workspace flow: incremental (default), full (ignore the streams' bookmarks) or reset "
    "(clear the streams' state first).",
)
@click.option("--streams", help="Workspace flow: only these streams (comma-separated).")
@click.option(
    "--start-date", help="Workspace flow: the tap's start_date for this run only (not saved)."
)
@click.pass_context
def run(
    ctx: click.Context,
    flow_file: str | None,
    tap: str | None,
    targets: tuple[str, ...],
    tap_config: str | None,
    target_configs: tuple[str, ...],
    catalog: str | None,
    field_map: str | None,
    mappers: tuple[str, ...],
    mapper_configs: tuple[str, ...],
    etl: str | None,
    state_file: str | None,
    state_dir: str | None,
    state_key: str | None,
    full_refresh: bool,
    max_line_bytes: int | None,
    timeouts: tuple[str, ...],
    progress: bool | None,
    as_json: bool,
    tenant: str | None,
    all_tenants: bool,
    connector: str | None,
    refresh_catalog: bool,
    sync_type: str | None,
    streams: str | None,
    start_date: str | None,
) -> None:
    """Run a flow file, or a tap into targets given by options, or a workspace flow
    (FLOW --tenant T, or --all-tenants)."""
    limits = parse_cli_timeouts(timeouts)
    show_progress = progress if progress is not None else sys.stderr.isatty()
    if ctx.obj["log_format"] == "json":
        show_progress = bool(progress)
    job_options = (sync_type, streams, start_date)
    if (
        wsrun.is_workspace_run(flow_file, tenant, all_tenants)
        or connector
        or refresh_catalog
        or any(job_options)
    ):
        file_options = dict(
            tap=tap,
            target=targets,
            tap_config=tap_config,
            target_config=target_configs,
            catalog=catalog,
            field_map=field_map,
            mapper=mappers,
            mapper_config=mapper_configs,
            etl=etl,
            state_file=state_file,
            state_dir=state_dir,
            state_key=state_key,
            max_line_bytes=max_line_bytes,
        )
        ctx.exit(
            wsrun.run_workspace(
                ctx,
                flow_file,
                tenant=tenant,
                all_tenants=all_tenants,
                connector=connector,
                full_refresh=full_refresh,
                refresh_catalog=refresh_catalog,
                timeouts=limits,
                as_json=as_json,
                progress=show_progress,
                file_options=file_options,
                choices=wsrun.job_choices(full_refresh, *job_options),
            )
        )
    progress_line = logs.ProgressLine() if show_progress else None
    try:
        result = _run_plan(
            flow_file,
            tap=tap,
            targets=targets,
            tap_config=tap_config,
            target_configs=target_configs,
            catalog=catalog,
            field_map=field_map,
            mappers=mappers,
            mapper_configs=mapper_configs,
            etl=etl,
            state_file=state_file,
            state_dir=state_dir,
            state_key=state_key,
            full_refresh=full_refresh,
            max_line_bytes=max_line_bytes,
            timeouts=limits,
            on_progress=progress_line,
        ).execute()
    finally:
        if progress_line is not None:
            progress_line.close()
    ctx.obj["signals"].job_done = True  # from here a signal cannot cut the report short
    _report(result, as_json, ctx.obj["log_format"])
    ctx.exit(result.exit_code)


def _run_plan(
    flow_file: str | None,
    *,
    tap: str | None,
    targets: tuple[str, ...],
    target_configs: tuple[str, ...],
    mappers: tuple[str, ...],
    mapper_configs: tuple[str, ...],
    max_line_bytes: int | None,
    **options: Any,
) -> plan.RunPlan:
    """`glue run`'s options as a run plan, built as ``run_flow``/``run`` build theirs."""
    if flow_file:
        if tap or targets or mappers:
            raise UsageError("give a flow file or --tap/--target/--mapper, not both")
        return plan.plan_flow(
            flow_file,
            full_refresh=options["full_refresh"],
            state_file=options["state_file"],
            state_key=options["state_key"],
            on_progress=options["on_progress"],
            max_line_bytes=max_line_bytes,
            timeouts=options["timeouts"],
        )
    if not tap or not targets:
        raise UsageError(
            "nothing to run",
            hint="`glue run flow.yml`, or `glue run --tap TAP --target TARGET ...`",
        )
    if target_configs and len(target_configs) not in (1, len(targets)):
        raise UsageError("give one --target-config per --target, in the same order")
    cfgs: list[Any] = list(target_configs) or [None] * len(targets)
    if len(cfgs) == 1 and len(targets) > 1:
        cfgs = cfgs * len(targets)
    if mapper_configs and len(mapper_configs) != len(mappers):
        raise UsageError(
            f"{len(mappers)} --mapper but {len(mapper_configs)} --mapper-config",
            hint="give one --mapper-config per --mapper, in the same order "
            "(or none: each mapper gets an empty config)",
        )
    if max_line_bytes:
        options["max_line_bytes"] = max_line_bytes
    return plan.plan_run(
        tap,
        list(targets),
        target_config=cfgs,
        mappers=list(mappers),
        mapper_config=list(mapper_configs) or [None] * len(mappers),
        **options,
    )


def _report(result: JobResult, as_json: bool, log_format: str = "text") -> None:
    """The job's result on the CLI: JSON on stdout, or the summary on stderr, then the error.

    With ``--log-format json`` stderr stays one JSON object a line: the job_end event already
    holds the summary, so the table is left out and the error is one more JSON line. A job that
    never started (a config error) has no summary worth printing: just the error and its hint.
    """
    if as_json:
        _echo_json(result.as_dict())
    elif log_format != "json" and result.started:
        click.echo(_summary_table(result), err=True)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    if result.error is not None:
        _echo_error(result.error, result.exit_code, log_format, job_id=result.job_id)


def _summary_table(result: JobResult) -> str:
    rows = [("stream", "records in", "records out")]
    rows += [(n, s.describe_in(), s.describe_out()) for n, s in result.streams.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"  {r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
    if not result.streams:
        lines = ["  (no records counted)"]
    head = (
        f"job {result.job_id}: {result.status.upper()} in {result.duration_s:.2f}s, "
        f"state {result.state_key!r} -> {result.state_location} ({result.state_commits} commits)"
    )
    return "\n".join([head, *lines])


# -- discover --------------------------------------------------------------------------------


DEFAULT_FLOW = "flow.yml"


def _default_flow(flow: str | None) -> str | None:
    """``--flow`` as given, else ``flow.yml`` when the current folder has one."""
    if flow:
        return flow
    return DEFAULT_FLOW if Path(DEFAULT_FLOW).is_file() else None


def _source_of(
    source: str | None, config: str | None, flow: str | None
) -> tuple[connectors.Connector, dict[str, Any], Path, bool]:
    """The tap, its config, the folder for caches and whether to check the config.

    From --flow (or ./flow.yml), or SOURCE + --config.
    """
    if not source:
        flow = _default_flow(flow)
    if flow:
        f = load_flow(flow)
        tap = connectors.resolve(f.source.connector, "tap")
        return tap, f.source.config, f.base_dir, f.source.validate
    if not source:
        raise UsageError(
            "which tap?",
            hint=f"give SOURCE (a tap name or path) or --flow FLOW (no {DEFAULT_FLOW} here)",
        )
    cfg: dict[str, Any] = {}
    if config:
        cfg = plan.load_config(config, "tap config")
    return connectors.resolve(source, "tap"), cfg, Path.cwd(), True


def _limits(flow: str | None, cli: tuple[str, ...] = ()) -> Timeouts:
    """The timeouts for a command: the defaults, under the flow file's, under --timeout."""
    loaded = load_flow(flow) if flow else None
    overrides = parse_cli_timeouts(cli)
    if loaded is None:
        return defaults.timeouts(overrides, "--timeout")
    return defaults.flow_timeouts(loaded, overrides)


@main.command()
@click.argument("source", required=False)
@click.option("--config", type=click.Path(dir_okay=False), help="Tap config JSON file.")
@click.option("--flow", type=click.Path(dir_okay=False), help="Discover this flow's source.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the catalog here.")
@click.option("--refresh", is_flag=True, help="Ignore the cached catalog.")
@click.option(
    "--timeout",
    "timeouts",
    multiple=True,
    metavar="NAME=DURATION",
    help="Override a timeout (discover, about), e.g. --timeout discover=2h; 0 turns it off.",
)
def discover(
    source: str | None,
    config: str | None,
    flow: str | None,
    output: str | None,
    refresh: bool,
    timeouts: tuple[str, ...],
) -> None:
    """Run the tap's discovery; the catalog is cached until its config changes."""
    if not source:
        flow = _default_flow(flow)
    label, found = _discover(source, config, flow, refresh, _limits(flow, timeouts))
    catalog = found.catalog or {}
    streams = catalog.get("streams", [])
    how = "from cache" if found.origin == "cache" else "discovered"
    _note(f"{label}: {len(streams)} streams ({how}; {found.path})")
    if output:
        from glue_runtime.state import write_json_atomic

        with _writing(output, "the catalog"):
            write_json_atomic(Path(output), catalog)
        _note(f"catalog written to {output}")
    else:
        _echo_json(catalog)


# -- fieldmap --------------------------------------------------------------------------------


def _catalog_for(
    catalog: str | None, source: str | None, config: str | None, flow: str | None, refresh: bool
) -> dict[str, Any]:
    """A catalog from --catalog, or from (cached) discovery of --flow's or SOURCE's tap."""
    if catalog:
        return plan.load_config(catalog, "catalog")
    if not source:
        flow = _default_flow(flow)
    return _discover(source, config, flow, refresh, _limits(flow))[1].catalog or {}


def _discover(
    source: str | None, config: str | None, flow: str | None, refresh: bool, limits: Timeouts
) -> tuple[str, plan.CatalogChoice]:
    """The tap's label and catalog (--flow's or SOURCE's tap), discovered as a run does."""
    tap, cfg, base, validate = _source_of(source, config, flow)
    tap.about_timeout_s = limits.about
    found = plan.discover_catalog(
        tap, cfg, cwd=base, timeouts=limits, validate=validate, refresh=refresh
    )
    return tap.label, found


def _catalog_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option("--flow", type=click.Path(dir_okay=False), help="Use this flow's tap."),
            click.option("--source", help="A tap name or path (with --config)."),
            click.option("--config", type=click.Path(dir_okay=False), help="Tap config file."),
            click.option("--catalog", type=click.Path(dir_okay=False), help="A catalog file."),
            click.option("--refresh", is_flag=True, help="Discover again, ignoring the cache."),
        ]
    ):
        fn = opt(fn)
    return fn


def _field_map_path(path: str | None, flow: str | None) -> Path:
    if path:
        return Path(path)
    flow = _default_flow(flow)
    if flow:
        f = load_flow(flow)
        if f.field_map is not None:
            return f.field_map
        raise UsageError(f"which field map? {flow} has no field_map key", hint="give its path")
    raise UsageError(
        "which field map?",
        hint=f"give its path, or --flow FLOW with a field_map key (no {DEFAULT_FLOW} here)",
    )


@main.group()
def fieldmap() -> None:
    """Write, show and check field maps (which streams and fields a sync pulls)."""


@fieldmap.command("init")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here (else stdout).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_catalog_options
def fieldmap_init(
    output: str | None,
    force: bool,
    flow: str | None,
    source: str | None,
    config: str | None,
    catalog: str | None,
    refresh: bool,
) -> None:
    """Write a field map listing every stream and field of the tap's catalog."""
    from glue_runtime.fieldmap import init_field_map

    text = init_field_map(_catalog_for(catalog, source, config, flow, refresh))
    if not output:
        click.echo(text, nl=False)
        return
    out = Path(output)
    if out.exists() and not force:
        raise UsageError(f"{out} exists", hint="pass --force to overwrite it")
    with _writing(out, "the field map"):
        out.write_text(text)
    where = f" --flow {flow}" if flow else ""
    if catalog:
        where = f" --catalog {catalog}"
    elif source:
        where = f" --source {source}" + (f" --config {config}" if config else "")
    _note(f"field map written to {out}: edit it, then `glue fieldmap check {out}{where}`")


@fieldmap.command("show")
@click.argument("field_map", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--catalog-selected",
    type=click.Path(dir_okay=False),
    help="Also write the tap's catalog with this selection applied (hotglue's file).",
)
@click.option(
    "--plan",
    "plan",
    flag_value="plan",
    help="Print each stream's plan instead: field map, maps or ETL (its schema hooks run), "
    "validation.",
)
@click.option("--code", "plan", flag_value="code", help="The plans and their compiled code.")
@_catalog_options
def fieldmap_show(
    field_map: str | None,
    catalog_selected: str | None,
    plan: str | None,
    flow: str | None,
    source: str | None,
    config: str | None,
    catalog: str | None,
    refresh: bool,
) -> None:
    """Print the resolved selection: streams on/off, fields pulled, ignored and always kept."""
    from glue_runtime.fieldmap import load_field_map, render_table, resolve, write_catalog_selected

    path = _field_map_path(field_map, flow)
    cat = _catalog_for(catalog, source, config, flow, refresh)
    fm = load_field_map(path)
    selection = resolve(fm, cat)
    click.echo(f"{path} (read as {fm.shape})")
    if plan:
        from glue_runtime.stages.explain import explain_flow

        flow_file = _default_flow(flow)
        f = load_flow(flow_file) if flow_file else None
        etl = f.etl if f is not None and f.etl_mode == "stream" else None
        click.echo(explain_flow(selection, cat, etl, code=plan == "code"), nl=False)
        return
    click.echo(render_table(selection))
    if catalog_selected:
        with _writing(catalog_selected, "the catalog with the selection"):
            write_catalog_selected(Path(catalog_selected), cat, selection, fm)
        _note(f"catalog with the selection written to {catalog_selected}")


@fieldmap.command("check")
@click.argument("field_map", required=False, type=click.Path(dir_okay=False))
@_catalog_options
@click.pass_context
def fieldmap_check(
    ctx: click.Context,
    field_map: str | None,
    flow: str | None,
    source: str | None,
    config: str | None,
    catalog: str | None,
    refresh: bool,
) -> None:
    """Check a field map against the tap's current catalog (unknown names, schema drift)."""
    from glue_runtime.fieldmap import check, load_field_map

    path = _field_map_path(field_map, flow)
    problems = check(load_field_map(path), _catalog_for(catalog, source, config, flow, refresh))
    for p in problems:
        _note(str(p), "error" if p.level == "error" else "warning")
    errors = [p for p in problems if p.level == "error"]
    if errors:
        _note(f"{path}: {len(errors)} error(s)", "error")
        ctx.exit(2)
    _note(f"{path}: OK ({len(problems)} warning(s))")


# -- tap -------------------------------------------------------------------------------------


@main.command("tap")
@click.argument("flow_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write the Singer lines here (default: stdout).",
)
@click.pass_context
def tap_command(ctx: click.Context, flow_file: str | None, output: str | None) -> None:
    """Save a flow's tap output, field map applied, e.g. as input for `glue etl test`.

    The tap reads from the start: no bookmark is read or committed, and the ETL does not run.
    FLOW_FILE defaults to flow.yml in the current folder.
    """
    import shutil
    import tempfile

    from glue_runtime.tapsave import save_tap_output

    flow_path = _default_flow(flow_file)
    if flow_path is None:
        raise UsageError("which flow?", hint=f"give FLOW_FILE (no {DEFAULT_FLOW} here)")
    if output:
        result = save_tap_output(flow_path, Path(output))
    else:
        with tempfile.TemporaryDirectory(prefix="glue-tap-") as tmp:
            saved = Path(tmp) / "out.singer"
            result = save_tap_output(flow_path, saved)
            if saved.exists():
                with saved.open("rb") as fh:
                    shutil.copyfileobj(fh, sys.stdout.buffer)
                sys.stdout.buffer.flush()
    if not result.ok:
        _report(result, False, ctx.obj["log_format"])
        ctx.exit(result.exit_code)
    where = output or "stdout"
    streams = ", ".join(f"{n} {s.records_out:,}" for n, s in result.streams.items()) or "none"
    _note(f"{result.records_out:,} records written to {where} (streams: {streams})")
    if output:
        _note(f"try an ETL script on them: glue etl test SCRIPT --input {output}")


# -- etl -------------------------------------------------------------------------------------


@main.group()
def etl() -> None:
    """Work on ETL scripts and declarative maps."""


@etl.command("test")
@click.argument("script", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--input",
    "input_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="A saved Singer stream to run the script over (make one: glue tap FLOW -o FILE).",
)
@click.option(
    "--validate",
    type=click.Choice(["error", "warn", "off"]),
    default="error",
    show_default=True,
    help="What a record that does not fit its output schema does.",
)
def etl_test(script: str, input_file: str, validate: str) -> None:
    """Run a script (or maps file) over a saved stream and print what comes out."""
    from glue_runtime import protocol
    from glue_runtime.etl import load_transform
    from glue_runtime.stages.transform import make_transform

    # guard="deep" also catches in-place changes to nested values: slower, right for testing.
    stage = make_transform(load_transform(script), guard="deep", validate=validate)  # type: ignore[arg-type]
    out = sys.stdout.buffer
    with open(input_file, "rb") as fh:
        messages = (
            protocol.parse_line(line, source=input_file, line_no=i)
            for i, line in enumerate(fh, 1)
            if line.strip()
        )
        for msg in stage(messages):
            out.write(protocol.dump(msg))
    out.flush()


# -- state -----------------------------------------------------------------------------------


def _store_and_key(
    key: str | None, flow: str | None, state_dir: str | None, state_file: str | None
) -> tuple[FileStateStore, str]:
    if not state_dir and not state_file:
        flow = _default_flow(flow)
    if flow:
        f = load_flow(flow)
        return defaults.flow_state_store(f), defaults.flow_state_key(f, key)
    store = defaults.state_store(state_file=state_file, state_dir=state_dir)
    if key is None:
        if state_file:
            return store, defaults.state_file_key(state_file)
        raise UsageError("which state key?", hint="`glue state list` shows them")
    return store, key


def _state_options(fn: Any) -> Any:
    fn = click.option("--flow", type=click.Path(dir_okay=False), help="Use this flow's store.")(fn)
    fn = click.option("--state-dir", type=click.Path(file_okay=False), help="State folder.")(fn)
    fn = click.option("--state-file", type=click.Path(dir_okay=False), help="State file.")(fn)
    return fn


@main.group()
def state() -> None:
    """Show, set, clear and list bookmarks in a state store."""


@state.command("list")
@_state_options
def state_list(flow: str | None, state_dir: str | None, state_file: str | None) -> None:
    """List the state keys in the store."""
    if not state_dir and not state_file:
        flow = _default_flow(flow)
    store, _ = _store_and_key("-", flow, state_dir, state_file)
    keys = store.keys()
    if not keys:
        where = store.file if isinstance(store, SingleFileStateStore) else store.directory
        whose = f" (the store of {flow})" if flow else ""
        _note(f"no state in {Path(where).resolve()}{whose}")
        if not flow and not state_dir and not state_file:
            _note(
                "  hint: that is where runs started in this folder keep state; a flow keeps "
                "its state beside its flow file: `glue state list --flow FLOW`"
            )
    for key in keys:
        try:
            value = store.get(key)
        except StateError as exc:  # one bad file must not hide the other keys
            click.echo(f"{key}\t{store.location(key)}\t(unreadable: {exc.message})")
            continue
        streams = sorted((value.get("bookmarks") or {}).keys()) if isinstance(value, dict) else []
        click.echo(f"{key}\t{store.location(key)}\t{', '.join(streams) or '(no bookmarks)'}")


@state.command("show")
@click.argument("key", required=False)
@_state_options
def state_show(
    key: str | None, flow: str | None, state_dir: str | None, state_file: str | None
) -> None:
    """Print the state stored under KEY."""
    store, key = _store_and_key(key, flow, state_dir, state_file)
    value = store.get(key)
    if not value:
        _note(f"no state under {key!r} in {store.location(key)}")
    _echo_json(value)


@state.command("set")
@click.argument("key", required=False)
@click.option("--value", "value_text", help="The state as JSON text.")
@click.option("--input", "input_file", type=click.File("rb"), help="Read the state from a file.")
@_state_options
def state_set(
    key: str | None,
    value_text: str | None,
    input_file: Any,
    flow: str | None,
    state_dir: str | None,
    state_file: str | None,
) -> None:
    """Replace the state stored under KEY (from --value or --input)."""
    store, key = _store_and_key(key, flow, state_dir, state_file)
    raw = (
        value_text.encode()
        if value_text is not None
        else (input_file.read() if input_file else None)
    )
    if raw is None:
        raise UsageError("give the new state with --value JSON or --input FILE")
    from glue_runtime.protocol import loads_exact

    try:
        value = loads_exact(raw)  # numbers exact: bookmarks past a float's digits stay whole
    except ValueError as exc:
        raise ConfigError(f"the new state is not valid JSON: {exc}") from None
    if isinstance(value, dict) and set(value) == {"type", "value"}:
        value = value["value"]  # a STATE message pasted whole
    with store.lock(key):
        store.set(key, value)
    _note(f"state {key!r} set ({store.location(key)})")


@state.command("clear")
@click.argument("key", required=False)
@click.option("--stream", "streams", multiple=True, help="Only this stream's bookmark.")
@_state_options
def state_clear(
    key: str | None,
    streams: tuple[str, ...],
    flow: str | None,
    state_dir: str | None,
    state_file: str | None,
) -> None:
    """Remove the state under KEY (or only some streams' bookmarks)."""
    from glue_runtime.state import drop_bookmarks

    store, key = _store_and_key(key, flow, state_dir, state_file)
    with store.lock(key):
        if streams:
            store.set(key, drop_bookmarks(store.get(key), set(streams)))
            _note(f"cleared bookmarks of {', '.join(streams)} in {key!r}")
        elif store.clear(key):
            _note(f"state {key!r} cleared")
        else:
            _note(f"state {key!r} was already empty")


# -- connectors ------------------------------------------------------------------------------


@main.group(name="connectors")
def connectors_group() -> None:
    """The taps and targets this machine can run."""


@connectors_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def connectors_list(as_json: bool) -> None:
    """List available connectors: entry points, tap-*/target-* executables on PATH, and those
    the workspace installed (`glue connectors install`)."""
    from glue_runtime.workspace.installs import here_installed

    found = here_installed() + connectors.available()
    if as_json:
        _echo_json(
            [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "version": c.version,
                    "source": c.source,
                    "location": c.location,
                }
                for c in found
            ]
        )
        return
    if not found:
        _note("no connectors found (pip install ./connectors/NAME)")
    for c in found:
        click.echo(f"{c.name:<20} {c.kind:<7} {c.version or '-':<10} {c.source:<12} {c.location}")


@connectors_group.command("about")
@click.argument("name")
@click.option("--kind", type=click.Choice(["tap", "target"]), help="If the name has both.")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.option(
    "--refresh", is_flag=True, help="Ask the connector again (its cached --about is replaced)."
)
def connectors_about(name: str, kind: str | None, as_json: bool, refresh: bool) -> None:
    """Show a connector's capabilities and settings (from its --about, cached per version)."""
    from glue_runtime.workspace.installs import here_resolved

    kinds = [kind] if kind else ["tap", "target"]
    found = []
    for k in kinds:
        try:
            found.append(connectors.resolve(here_resolved(name, k), k))  # type: ignore[arg-type]
        except GlueError:
            continue
    if not found:
        connectors.resolve(name, kinds[0])  # type: ignore[arg-type]  # raises with suggestions
    for c in found:
        if refresh:
            c.about(refresh=True)
        info = connectors.describe(c)
        if as_json:
            _echo_json(info)
            continue
        click.echo(f"{c.label} {info['version'] or ''}  ({c.source}: {c.location})")
        if info["description"]:
            click.echo(f"  {info['description']}")
        click.echo(f"  capabilities: {', '.join(info['capabilities']) or '(none declared)'}")
        props = (info["settings"] or {}).get("properties") or {}
        required = set((info["settings"] or {}).get("required") or ())
        if props:
            click.echo("  settings:")
        for pname, prop in props.items():
            ptype = prop.get("type", "")
            flags = [
                f
                for f, on in (
                    ("required", pname in required),
                    ("secret", pname in info["secret_settings"]),
                )
                if on
            ]
            desc = (prop.get("description") or "").splitlines()[0:1]
            extra = f" [{', '.join(flags)}]" if flags else ""
            click.echo(f"    {pname:<24} {ptype!s:<20}{extra} {' '.join(desc)}")


@main.command("exit-codes")
def exit_codes() -> None:
    """List the exit codes of `glue run` and what they mean."""
    for code, meaning in EXIT_CODES.items():
        click.echo(f"{code:>4}  {meaning}")


# Command groups of the workspace layer (issue 12), one module each, adding their commands to
# `main` when imported: the light ones here, the others on demand (_LAZY_COMMANDS).
from glue_runtime.cli import connector_cmds as _connector_cmds  # noqa: E402,F401
from glue_runtime.cli import tenant_fieldmap as _tenant_fieldmap  # noqa: E402,F401
from glue_runtime.cli import wsrun  # noqa: E402

if __name__ == "__main__":  # pragma: no cover
    main()
