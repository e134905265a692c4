"""The Python entry points: ``run`` for a tap and targets, ``run_flow`` for a flow file.

Both build their run in plan.py (the same builder ``glue run`` uses) and execute it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from glue_runtime import defaults, protocol
from glue_runtime.defaults import TimeoutsLike
from glue_runtime.flow import ConnectorRef, Flow, load_flow
from glue_runtime.plan import ConfigLike, ProgressFn, load_config, plan_flow, plan_run
from glue_runtime.result import JobResult
from glue_runtime.stages import Stage
from glue_runtime.state import FileStateStore


def state_store_for(
    *, state_file: str | Path | None = None, state_dir: str | Path | None = None
) -> FileStateStore:
    """A named state file wins; else a folder of one file per key (``.glue/state``)."""
    return defaults.state_store(state_file=state_file, state_dir=state_dir)


def default_state_key(tap: str, targets: Sequence[str]) -> str:
    """``TAP-to-TARGET[+TARGET]``: the state key of a run given none."""
    return defaults.direct_state_key(tap, targets)


def run(
    tap: str,
    target: str | Sequence[str],
    *,
    tap_config: ConfigLike = None,
    target_config: ConfigLike | Sequence[ConfigLike] = None,
    mappers: Sequence[str] = (),
    mapper_config: ConfigLike | Sequence[ConfigLike] = None,
    state_file: str | Path | None = None,
    state_dir: str | Path | None = None,
    state_key: str | None = None,
    catalog: ConfigLike = None,
    field_map: str | Path | None = None,
    etl: str | Path | None = None,
    stages: Sequence[Stage] = (),
    full_refresh: bool = False,
    max_line_bytes: int = protocol.DEFAULT_MAX_LINE_BYTES,
    env: dict[str, str] | None = None,
    secrets: Iterable[str] = (),
    cwd: str | Path | None = None,
    validate_config: bool = True,
    on_progress: ProgressFn | None = None,
    etl_mode: str = "stream",
    etl_format: str = "jsonl",
    flow_name: str = "flow",
    tenant: str = "default",
    tap_config_source: str | Path | None = None,
    state_write_interval_s: float = 1.0,
    timeouts: TimeoutsLike = None,
) -> JobResult:
    """Run a tap into one or more targets; bookmarks go to the state store.

    ``tap`` and ``target`` are connector names (``glue connectors list``), ``tap-NAME`` /
    ``target-NAME`` executables on PATH, or paths. ``mappers`` are Singer mapper executables run
    in order between the field map and the ETL (a path, a registered mapper, or a
    ``mapper-NAME`` executable), with ``mapper_config`` one config per mapper. Configs are dicts
    or JSON file paths. Returns a :class:`JobResult`; a failed run does not raise (call
    ``result.raise_for_status()`` for that). Confirmed state is written at most once per
    ``state_write_interval_s`` and at the end (0: at every confirmation).
    ``secrets``: further values to mask in logs and errors (settings marked secret by the
    connector or by name, URL passwords and ``env`` values with secret-looking names always are).
    ``timeouts``: a :class:`~glue_runtime.timeouts.Timeouts`, or ``{"idle": 600, ...}`` over
    the defaults (seconds, or strings such as ``"30m"``; 0 or None turns one off).
    """
    return plan_run(
        tap,
        target,
        tap_config=tap_config,
        target_config=target_config,
        mappers=mappers,
        mapper_config=mapper_config,
        state_file=state_file,
        state_dir=state_dir,
        state_key=state_key,
        catalog=catalog,
        field_map=field_map,
        etl=etl,
        stages=stages,
        full_refresh=full_refresh,
        max_line_bytes=max_line_bytes,
        env=env,
        secrets=secrets,
        cwd=cwd,
        validate_config=validate_config,
        on_progress=on_progress,
        etl_mode=etl_mode,
        etl_format=etl_format,
        flow_name=flow_name,
        tenant=tenant,
        tap_config_source=tap_config_source,
        state_write_interval_s=state_write_interval_s,
        timeouts=timeouts,
    ).execute()


def run_flow(
    flow: Flow | str | Path,
    *,
    full_refresh: bool = False,
    state_file: str | Path | None = None,
    state_key: str | None = None,
    stages: Sequence[Stage] = (),
    on_progress: ProgressFn | None = None,
    max_line_bytes: int | None = None,
    tenant: str = "default",
    state_write_interval_s: float = 1.0,
    timeouts: TimeoutsLike = None,
) -> JobResult:
    """Run a flow (a Flow object, or the path of a flow file).

    ``timeouts`` (as for :func:`run`) are laid over the flow file's ``timeouts:``.
    """
    return plan_flow(
        flow,
        full_refresh=full_refresh,
        state_file=state_file,
        state_key=state_key,
        stages=stages,
        on_progress=on_progress,
        max_line_bytes=max_line_bytes,
        tenant=tenant,
        state_write_interval_s=state_write_interval_s,
        timeouts=timeouts,
    ).execute()


__all__ = [
    "ConfigLike",
    "ConnectorRef",
    "Flow",
    "load_config",
    "load_flow",
    "run",
    "run_flow",
    "state_store_for",
]
