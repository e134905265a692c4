"""Building a run: a flow file, or a tap and targets, resolved into a job description held as a
:class:`RunPlan`, then executed. ``api.run``, ``api.run_flow`` and ``glue run`` all come here.

::

    flow file --flow_request()--.                        RunBuilder.build():
                                 >-- RunRequest --------> 1. endpoints  connectors and configs
    run() arguments --request()-'   (defaults decided:     2. catalog    given, or discovered
                                     defaults.py)          3. field map  resolved (selection.py)
                                                           4. stages     make_stages()
                                                           5. JobSpec (+ BatchOptions)
                                                        -> RunPlan --execute()--> runner / batch

Nothing here starts a connector except step 2, and only when a field map needs the tap's
catalog and none was given: :meth:`RunBuilder.catalog` says so in ``CatalogChoice.origin``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from glue_runtime import connectors, defaults, protocol
from glue_runtime.connectors import Connector
from glue_runtime.discovery import discover
from glue_runtime.errors import ConfigError
from glue_runtime.flow import Flow, load_flow, read_json_file
from glue_runtime.result import JobResult, StreamStats
from glue_runtime.selection import RunSelection, resolve_for_run
from glue_runtime.spec import Endpoint, JobSpec, TapConfigHook
from glue_runtime.stages import Stage
from glue_runtime.stages.select import SelectStats, make_selector
from glue_runtime.stages.transform import make_transform
from glue_runtime.statestore import StateStore
from glue_runtime.timeouts import Timeouts

if TYPE_CHECKING:
    from glue_runtime.batch import BatchOptions

ConfigLike = dict[str, Any] | str | Path | None
ProgressFn = Callable[[dict[str, StreamStats], float], None]
CatalogOrigin = Literal["none", "given", "cache", "discovered"]


def load_config(value: ConfigLike, what: str) -> dict[str, Any]:
    """A config given as a dict, or the path of a JSON file holding an object (None: empty)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    data = read_json_file(Path(value), what)
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {value} must hold a JSON object")
    return data


def _configs_for(
    names: Sequence[str], config: ConfigLike | Sequence[ConfigLike], what: str
) -> list[dict[str, Any]]:
    """One config per named connector: a list in the same order, or one for all."""
    if config is None or isinstance(config, (dict, str, Path)):
        configs = [load_config(config, f"{what} config")] * len(names)
    else:
        configs = [load_config(c, f"{what} config") for c in config]
    if len(configs) != len(names):
        raise ConfigError(
            f"{len(names)} {what}s but {len(configs)} {what} configs",
            hint=f"give one config per {what}, in the same order",
        )
    return configs


# ----------------------------------------------------------------------------- the request


@dataclass
class RunRequest:
    """What a run was asked to do, every default decided; connectors not yet looked up.

    The tap's config and the catalog may still be file names: they are read in the builder's
    steps, after the connectors are found, so errors come in the order they always have.
    """

    tap: str
    tap_config: ConfigLike
    targets: list[tuple[str, dict[str, Any]]]
    store: StateStore
    state_key: str
    mappers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    catalog: ConfigLike = None
    field_map: Path | None = None
    etl: Path | None = None
    etl_mode: str = "stream"
    etl_format: str = "jsonl"
    stages: Sequence[Stage] = ()
    full_refresh: bool = False
    max_line_bytes: int = protocol.DEFAULT_MAX_LINE_BYTES
    env: dict[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    cwd: Path | None = None
    validate: bool = True
    on_progress: ProgressFn | None = None
    flow_name: str = "flow"
    tenant: str = "default"
    tap_config_source: str | None = None
    state_write_interval_s: float = 1.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Who the source is within its flow (a workspace run's supported connector id): the ETL's
    # ctx.connector and a batch script's CONNECTOR_ID.
    connector_id: str | None = None
    on_tap_config_update: TapConfigHook | None = None  # see spec.TapConfigHook
    stop: threading.Event | None = None  # see spec.JobSpec.stop

    @property
    def batch(self) -> bool:
        """An ETL script run as its own process over the landed tap output."""
        return self.etl is not None and self.etl_mode == "batch"


def request(
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
    timeouts: defaults.TimeoutsLike = None,
) -> RunRequest:
    """The request of ``api.run`` (the same arguments; see there)."""
    limits = defaults.timeouts(timeouts, "timeouts")
    target_names = [target] if isinstance(target, str) else list(target)
    target_configs = _configs_for(target_names, target_config, "target")
    mapper_names = [mappers] if isinstance(mappers, str) else list(mappers)
    mapper_configs = _configs_for(mapper_names, mapper_config, "mapper")
    source = tap_config_source or (tap_config if isinstance(tap_config, (str, Path)) else None)
    return RunRequest(
        tap=tap,
        tap_config=tap_config,
        targets=list(zip(target_names, target_configs, strict=True)),
        mappers=list(zip(mapper_names, mapper_configs, strict=True)),
        store=defaults.state_store(state_file=state_file, state_dir=state_dir),
        state_key=defaults.direct_state_key(tap, target_names, state_key, tenant),
        catalog=catalog,
        field_map=Path(field_map) if field_map is not None else None,
        etl=Path(etl) if etl is not None else None,
        etl_mode=etl_mode,
        etl_format=etl_format,
        stages=stages,
        full_refresh=full_refresh,
        max_line_bytes=max_line_bytes,
        env=dict(env or {}),
        secrets=frozenset(secrets),
        cwd=Path(cwd) if cwd is not None else None,
        validate=validate_config,
        on_progress=on_progress,
        flow_name=flow_name,
        tenant=tenant,
        tap_config_source=str(source) if source else None,
        state_write_interval_s=state_write_interval_s,
        timeouts=limits,
    )


def flow_request(
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
    timeouts: defaults.TimeoutsLike = None,
) -> RunRequest:
    """The request of ``api.run_flow`` (the same arguments): the flow file's settings under
    the caller's."""
    if not isinstance(flow, Flow):
        flow = load_flow(flow)
    source = flow.source.config_file
    return RunRequest(
        tap=flow.source.connector,
        tap_config=flow.source.config,
        targets=[(t.connector, t.config) for t in flow.targets],
        mappers=[(m.connector, m.config) for m in flow.mappers],
        store=defaults.flow_state_store(flow, state_file),
        state_key=defaults.flow_state_key(flow, state_key, tenant),
        catalog=flow.source.catalog,
        field_map=flow.field_map,
        etl=flow.etl,
        etl_mode=flow.etl_mode,
        etl_format=flow.etl_format,
        stages=stages,
        full_refresh=full_refresh,
        max_line_bytes=defaults.max_line_bytes(max_line_bytes, flow.max_line_bytes),
        env=flow.env,
        secrets=frozenset(flow.env_secrets),
        cwd=flow.base_dir,
        validate=defaults.flow_validates(flow),
        on_progress=on_progress,
        flow_name=flow.name,
        tenant=tenant,
        tap_config_source=str(source) if source else None,
        state_write_interval_s=state_write_interval_s,
        timeouts=defaults.flow_timeouts(flow, timeouts),
    )


# ----------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class CatalogChoice:
    """The catalog a run gives its tap, and where it came from."""

    catalog: dict[str, Any] | None
    origin: CatalogOrigin  # none, given (flow/--catalog), cache or discovered
    path: Path | None = None  # the cache file, for cache and discovered


def discover_catalog(
    tap: Connector,
    config: dict[str, Any],
    *,
    cwd: Path | None,
    timeouts: Timeouts,
    validate: bool = True,
    refresh: bool = False,
) -> CatalogChoice:
    """Run the tap's discovery, or read its catalog from the cache of the run's folder.

    The one place a run, `glue discover` and `glue fieldmap` start ``--discover``.
    """
    catalog, path, cached = discover(
        tap,
        config,
        cache_dir=defaults.catalog_cache_dir(cwd),
        refresh=refresh,
        cwd=cwd,
        timeout=timeouts.discover,
        validate=validate,
    )
    return CatalogChoice(catalog, "cache" if cached else "discovered", path)


@dataclass
class StageChain:
    """The in-process stages of a run: before the external mappers, and after them."""

    before_mappers: list[Stage]
    after_mappers: list[Stage] = field(default_factory=list)
    select_stats: Any = None  # the selector's counts (stages.select.SelectStats), if any


def make_stages(
    selection: RunSelection | None,
    etl: Path | None,
    *,
    job_context: Mapping[str, Any],
    extra: Sequence[Stage] = (),
    with_mappers: bool = False,
) -> StageChain:
    """The one place a run's stages are made from its parts: the field map's selector first,
    then the ETL transform (a script or declarative maps), then the caller's stages.

    External mappers run after the selector and before the rest.
    """
    front: list[Stage] = []
    select_stats = None
    if selection is not None:
        select_stats = SelectStats()
        front.append(
            make_selector(selection.selection, stats=select_stats, catalog=selection.catalog)
        )
    back: list[Stage] = []
    if etl is not None:
        back.append(make_transform(etl, job_context=job_context))
    back.extend(extra)
    if with_mappers:
        return StageChain(front, back, select_stats)
    return StageChain(front + back, [], select_stats)


@dataclass
class Endpoints:
    tap: Endpoint
    targets: list[Endpoint]
    mappers: list[Endpoint]


# ----------------------------------------------------------------------------- the plan


@dataclass
class RunPlan:
    """A run, built and held: the job description, and how to execute it."""

    spec: JobSpec
    batch: BatchOptions | None = None
    catalog_origin: CatalogOrigin = "none"
    catalog_path: Path | None = None

    def execute(self) -> JobResult:
        """Run the job: streamed through the runner, or as a batch ETL job."""
        if self.batch is not None:
            from glue_runtime.batch import run_batch

            return run_batch(self.spec, self.batch)
        from glue_runtime.runner import run_job

        return run_job(self.spec)

    def describe(self) -> dict[str, Any]:
        """What the plan will run, as plain values (to compare plans, or show one)."""
        spec = self.spec
        return {
            "tap": spec.tap.label,
            "targets": [t.label for t in spec.targets],
            "mappers": [m.label for m in spec.mappers],
            "state_key": spec.state_key,
            "state_location": spec.store.location(spec.state_key),
            "catalog": self.catalog_origin,
            "stages": len(spec.stages),
            "after_mappers": len(spec.after_mappers),
            "selector": spec.select_stats is not None,
            "batch": str(self.batch.script) if self.batch is not None else None,
            "full_refresh": spec.full_refresh,
            "max_line_bytes": spec.max_line_bytes,
            "cwd": spec.cwd,
            "validate_configs": spec.validate_configs,
            "timeouts": spec.timeouts.as_dict(),
        }


class RunBuilder:
    """Resolves a :class:`RunRequest` into a :class:`RunPlan`, one step per method.

    Each step can be called on its own (tests, `glue tap`); :meth:`build` runs them in order.
    """

    def __init__(self, request: RunRequest, *, job_id: str | None = None) -> None:
        self.request = request
        self.job_id = job_id or uuid.uuid4().hex[:12]

    @property
    def job_context(self) -> dict[str, Any]:
        """What an ETL script sees of the job (``ctx.job``)."""
        req = self.request
        return {
            "flow": req.flow_name,
            "tenant": req.tenant,
            "connector": req.connector_id,
            "job_id": self.job_id,
        }

    def _endpoint(self, name: str, config: ConfigLike, kind: connectors.Kind) -> Endpoint:
        ep = Endpoint(connectors.resolve(name, kind), load_config(config, f"{kind} config"))
        ep.connector.about_timeout_s = self.request.timeouts.about
        return ep

    def tap(self) -> Endpoint:
        """Step 1a: the tap, found, with its config read."""
        return self._endpoint(self.request.tap, self.request.tap_config, "tap")

    def endpoints(self) -> Endpoints:
        """Step 1: the tap, the targets and the mappers, found, with their configs."""
        req = self.request
        tap = self.tap()
        targets = [self._endpoint(name, cfg, "target") for name, cfg in req.targets]
        mappers = [self._endpoint(name, cfg, "mapper") for name, cfg in req.mappers]
        return Endpoints(tap, targets, mappers)

    def catalog(self, tap: Endpoint) -> CatalogChoice:
        """Step 2: the catalog given; else, when a field map needs one, the tap's discovered
        catalog (from the cache when the tap's config has not changed)."""
        req = self.request
        if req.catalog is not None:
            return CatalogChoice(load_config(req.catalog, "catalog"), "given")
        if req.field_map is None:
            return CatalogChoice(None, "none")
        return discover_catalog(
            tap.connector, tap.config, cwd=req.cwd, timeouts=req.timeouts, validate=req.validate
        )

    def field_map(self, catalog: dict[str, Any] | None) -> RunSelection | None:
        """Step 3: the field map resolved against the catalog (errors before any tap starts)."""
        if self.request.field_map is None:
            return None
        return resolve_for_run(self.request.field_map, catalog)

    def stages(self, selection: RunSelection | None) -> StageChain:
        """Step 4: the stages; a batch ETL script is not one (it runs as its own process)."""
        req = self.request
        return make_stages(
            selection,
            None if req.batch else req.etl,
            job_context=self.job_context,
            extra=req.stages,
            with_mappers=bool(req.mappers),
        )

    def batch_options(self) -> BatchOptions | None:
        """Step 5b: where a batch ETL job lands its data and keeps its snapshots."""
        req = self.request
        if not req.batch or req.etl is None:
            return None
        from glue_runtime.batch import BatchOptions

        return BatchOptions(
            script=req.etl,
            output_format=req.etl_format,
            flow=req.flow_name,
            tenant=req.tenant,
            connector_id=req.connector_id,
            jobs_dir=defaults.batch_jobs_dir(req.cwd),
            snapshots_dir=defaults.batch_snapshots_dir(req.cwd),
        )

    def build(self) -> RunPlan:
        """All the steps, in order: the plan, ready to execute."""
        req = self.request
        eps = self.endpoints()
        choice = self.catalog(eps.tap)
        selection = self.field_map(choice.catalog)
        chain = self.stages(selection)
        spec = JobSpec(
            tap=eps.tap,
            targets=eps.targets,
            store=req.store,
            state_key=req.state_key,
            catalog=selection.tap_catalog if selection is not None else choice.catalog,
            stages=chain.before_mappers,
            mappers=eps.mappers,
            after_mappers=chain.after_mappers,
            full_refresh=req.full_refresh,
            max_line_bytes=req.max_line_bytes,
            env=dict(req.env),
            secrets=req.secrets,
            cwd=str(req.cwd) if req.cwd is not None else None,
            validate_configs=req.validate,
            on_progress=req.on_progress,
            tap_config_source=req.tap_config_source,
            on_tap_config_update=req.on_tap_config_update,
            select_stats=chain.select_stats,
            job_id=self.job_id,
            state_write_interval_s=req.state_write_interval_s,
            timeouts=req.timeouts,
            stop=req.stop,
        )
        return RunPlan(spec, self.batch_options(), choice.origin, choice.path)


def plan_run(tap: str, target: str | Sequence[str], **options: Any) -> RunPlan:
    """The plan of ``api.run(tap, target, **options)``."""
    return RunBuilder(request(tap, target, **options)).build()


def plan_flow(flow: Flow | str | Path, **options: Any) -> RunPlan:
    """The plan of ``api.run_flow(flow, **options)``."""
    return RunBuilder(flow_request(flow, **options)).build()


__all__ = [
    "CatalogChoice",
    "RunBuilder",
    "RunPlan",
    "RunRequest",
    "StageChain",
    "discover_catalog",
    "flow_request",
    "load_config",
    "make_stages",
    "plan_flow",
    "plan_run",
    "request",
]
