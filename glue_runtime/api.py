"""The Python entry points: ``run`` for a tap and targets, ``run_flow`` for a flow file."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from glue_runtime import connectors, protocol
from glue_runtime.errors import ConfigError
from glue_runtime.flow import ConnectorRef, Flow, load_flow, read_json_file
from glue_runtime.result import JobResult, StreamStats
from glue_runtime.runner import run_job
from glue_runtime.spec import Endpoint, JobSpec
from glue_runtime.stages import Stage
from glue_runtime.state import DEFAULT_STATE_DIR, FileStateStore, SingleFileStateStore
from glue_runtime.timeouts import Timeouts

TimeoutsLike = Timeouts | Mapping[str, Any] | None

ConfigLike = dict[str, Any] | str | Path | None
ProgressFn = Callable[[dict[str, StreamStats], float], None]


def load_config(value: ConfigLike, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    data = read_json_file(Path(value), what)
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {value} must hold a JSON object")
    return data


def _config_source(explicit: str | Path | None, config: ConfigLike) -> str | None:
    """The file a tap's config came from, where a tap's own config updates are saved."""
    source = explicit or (config if isinstance(config, (str, Path)) else None)
    return str(source) if source else None


def state_store_for(
    *, state_file: str | Path | None = None, state_dir: str | Path | None = None
) -> FileStateStore:
    if state_file is not None:
        return SingleFileStateStore(state_file)
    return FileStateStore(state_dir if state_dir is not None else DEFAULT_STATE_DIR)


def default_state_key(tap: str, targets: Sequence[str]) -> str:
    def short(name: str) -> str:
        return Path(name).name.removeprefix("tap-").removeprefix("target-")

    return f"{short(tap)}-to-{'+'.join(short(t) for t in targets)}"


def _stages_for(
    tap: Endpoint,
    field_map: str | Path | None,
    etl: str | Path | None,
    catalog: dict[str, Any] | None,
    extra: Sequence[Stage],
    cwd: str | Path | None,
    job_context: dict[str, Any],
    *,
    discover_timeout: float | None = Timeouts.discover,
    validate: bool = True,
) -> tuple[list[Stage], dict[str, Any] | None, Any]:
    """The stages (selector, transform, then the caller's), the tap's catalog, select stats.

    The selector, when there is one, is always the first stage (external mappers go after it).
    """
    stages: list[Stage] = []
    select_stats = None
    if field_map is not None:
        from glue_runtime.discovery import DEFAULT_CACHE_DIR, discover
        from glue_runtime.fieldmap import selector_for_run
        from glue_runtime.stages.select import SelectStats

        if catalog is None:  # the field map is resolved against the tap's discovered catalog
            catalog, _, _ = discover(
                tap.connector,
                tap.config,
                cache_dir=Path(cwd or ".") / DEFAULT_CACHE_DIR,
                cwd=cwd,
                timeout=discover_timeout,
                validate=validate,
            )
        select_stats = SelectStats()
        stage, catalog = selector_for_run(Path(field_map), catalog, stats=select_stats)
        stages.append(stage)
    if etl is not None:
        from glue_runtime.stages.transform import make_transform

        stages.append(make_transform(Path(etl), job_context=job_context))
    stages.extend(extra)
    return stages, catalog, select_stats


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
    limits = _timeouts(timeouts, "timeouts")
    target_names = [target] if isinstance(target, str) else list(target)
    target_configs = _configs_for(target_names, target_config, "target")
    mapper_names = [mappers] if isinstance(mappers, str) else list(mappers)
    mapper_configs = _configs_for(mapper_names, mapper_config, "mapper")
    tap_ep = Endpoint(connectors.resolve(tap, "tap"), load_config(tap_config, "tap config"))
    target_eps = [
        Endpoint(connectors.resolve(name, "target"), cfg)
        for name, cfg in zip(target_names, target_configs, strict=True)
    ]
    mapper_eps = [
        Endpoint(connectors.resolve(name, "mapper"), cfg)
        for name, cfg in zip(mapper_names, mapper_configs, strict=True)
    ]
    for ep in (tap_ep, *mapper_eps, *target_eps):
        ep.connector.about_timeout_s = limits.about
    catalog_dict = load_config(catalog, "catalog") if catalog is not None else None
    batch = etl is not None and etl_mode == "batch"
    job_id = uuid.uuid4().hex[:12]
    job_context = {"flow": flow_name, "tenant": tenant, "job_id": job_id}
    all_stages, catalog_dict, select_stats = _stages_for(
        tap_ep,
        field_map,
        None if batch else etl,
        catalog_dict,
        stages,
        cwd,
        job_context,
        discover_timeout=limits.discover,
        validate=validate_config,
    )
    after_mappers: list[Stage] = []
    if mapper_eps:  # the mappers run after the field map's selector, before the ETL
        n_before = 1 if field_map is not None else 0
        all_stages, after_mappers = all_stages[:n_before], all_stages[n_before:]
    spec = JobSpec(
        tap=tap_ep,
        targets=target_eps,
        store=state_store_for(state_file=state_file, state_dir=state_dir),
        state_key=state_key or default_state_key(tap, target_names),
        catalog=catalog_dict,
        stages=all_stages,
        mappers=mapper_eps,
        after_mappers=after_mappers,
        full_refresh=full_refresh,
        max_line_bytes=max_line_bytes,
        env=dict(env or {}),
        secrets=frozenset(secrets),
        cwd=str(cwd) if cwd is not None else None,
        validate_configs=validate_config,
        on_progress=on_progress,
        tap_config_source=_config_source(tap_config_source, tap_config),
        select_stats=select_stats,
        job_id=job_id,
        state_write_interval_s=state_write_interval_s,
        timeouts=limits,
    )
    if batch:
        from glue_runtime.batch import BatchOptions, run_batch

        assert etl is not None
        glue_dir = Path(cwd or ".") / ".glue"
        return run_batch(
            spec,
            BatchOptions(
                script=Path(etl),
                output_format=etl_format,
                flow=flow_name,
                tenant=tenant,
                jobs_dir=glue_dir / "jobs",
                snapshots_dir=glue_dir / "snapshots",
            ),
        )
    return run_job(spec)


def _configs_for(
    names: Sequence[str], config: ConfigLike | Sequence[ConfigLike], what: str
) -> list[dict[str, Any]]:
    """One config per named connector: a list in the same order, or one for all."""
    if isinstance(config, (list, tuple)):
        configs = [load_config(c, f"{what} config") for c in config]
    else:
        configs = [load_config(config, f"{what} config")] * len(names)
    if len(configs) != len(names):
        raise ConfigError(
            f"{len(names)} {what}s but {len(configs)} {what} configs",
            hint=f"give one config per {what}, in the same order",
        )
    return configs


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
    if not isinstance(flow, Flow):
        flow = load_flow(flow)
    base = flow.base_dir
    state_dir = flow.state_dir or (base / DEFAULT_STATE_DIR)
    return run(
        flow.source.connector,
        [t.connector for t in flow.targets],
        tap_config=flow.source.config,
        target_config=[t.config for t in flow.targets],
        mappers=[m.connector for m in flow.mappers],
        mapper_config=[m.config for m in flow.mappers],
        state_file=state_file or flow.state_file,
        state_dir=state_dir,
        state_key=state_key or flow.state_key or flow.name,
        catalog=flow.source.catalog,
        field_map=flow.field_map,
        etl=flow.etl,
        stages=stages,
        full_refresh=full_refresh,
        max_line_bytes=max_line_bytes or flow.max_line_bytes or protocol.DEFAULT_MAX_LINE_BYTES,
        env=flow.env,
        secrets=flow.env_secrets,
        cwd=base,
        validate_config=flow.source.validate
        and all(t.validate for t in (*flow.targets, *flow.mappers)),
        on_progress=on_progress,
        etl_mode=flow.etl_mode,
        etl_format=flow.etl_format,
        flow_name=flow.name,
        tenant=tenant,
        tap_config_source=flow.source.config_file,
        state_write_interval_s=state_write_interval_s,
        timeouts=_timeouts(timeouts, "timeouts", base=_timeouts(flow.timeouts, "flow timeouts")),
    )


def _timeouts(value: TimeoutsLike, where: str, base: Timeouts | None = None) -> Timeouts:
    """Timeouts from a Timeouts, or a mapping laid over ``base`` (the defaults)."""
    if isinstance(value, Timeouts):
        return value
    return (base or Timeouts()).merged(value, where=where)


__all__ = ["ConnectorRef", "Flow", "load_flow", "run", "run_flow", "state_store_for"]
