"""Every default a run takes when the user leaves a setting out, each decided in one function.

The API (``run``, ``run_flow``), the CLI (``glue run``, ``glue state``, ``glue discover``,
``glue fieldmap``) and the run builder (plan.py) all ask here, so a flow's state folder, its
state key and the discovery cache folder cannot drift apart between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glue_runtime import protocol
from glue_runtime.state import DEFAULT_STATE_DIR, FileStateStore, SingleFileStateStore
from glue_runtime.timeouts import Timeouts

if TYPE_CHECKING:
    from glue_runtime.flow import Flow

GLUE_DIR = Path(".glue")  # beside the flow file (or in the current folder for a direct run)
CATALOG_CACHE_DIR = GLUE_DIR / "catalogs"
STATE_DIR = DEFAULT_STATE_DIR  # .glue/state, defined by the file store
JOBS_DIR = GLUE_DIR / "jobs"
SNAPSHOTS_DIR = GLUE_DIR / "snapshots"

TimeoutsLike = Timeouts | Mapping[str, Any] | None


def base_dir(cwd: str | Path | None) -> Path:
    """The folder a run's relative files live in: the flow file's folder, else the current one."""
    return Path(cwd) if cwd is not None else Path(".")


def catalog_cache_dir(cwd: str | Path | None) -> Path:
    """Where discovered catalogs are cached: ``.glue/catalogs`` in the run's folder."""
    return base_dir(cwd) / CATALOG_CACHE_DIR


def batch_jobs_dir(cwd: str | Path | None) -> Path:
    """Where batch ETL jobs get their folders."""
    return base_dir(cwd) / JOBS_DIR


def batch_snapshots_dir(cwd: str | Path | None) -> Path:
    """Where batch ETL snapshots persist between jobs."""
    return base_dir(cwd) / SNAPSHOTS_DIR


def state_store(
    *, state_file: str | Path | None = None, state_dir: str | Path | None = None
) -> FileStateStore:
    """A named state file wins; else a folder of one file per key (``.glue/state``)."""
    if state_file is not None:
        return SingleFileStateStore(state_file)
    return FileStateStore(state_dir if state_dir is not None else STATE_DIR)


def flow_state_dir(flow: Flow) -> Path:
    """A flow keeps its state beside its flow file unless ``state: {dir: ...}`` says where."""
    return flow.state_dir or (flow.base_dir / STATE_DIR)


def flow_state_store(flow: Flow, state_file: str | Path | None = None) -> FileStateStore:
    """A flow's store: ``state_file`` (``--state-file``) over the flow's own file or folder."""
    return state_store(state_file=state_file or flow.state_file, state_dir=flow_state_dir(flow))


DEFAULT_TENANT = "default"


def tenant_key(key: str, tenant: str | None) -> str:
    """``key`` for ``tenant``: ``key:tenant``, so two tenants of one flow never share
    bookmarks; the default tenant keeps the bare key (state written before tenants existed)."""
    return key if tenant in (None, "", DEFAULT_TENANT) else f"{key}:{tenant}"


def flow_state_key(flow: Flow, explicit: str | None = None, tenant: str | None = None) -> str:
    """The given key; else the flow file's ``state: {key: ...}``, else the flow's name, with
    the tenant appended for any tenant but the default one."""
    return explicit or tenant_key(flow.state_key or flow.name, tenant)


def direct_state_key(
    tap: str, targets: Sequence[str], explicit: str | None = None, tenant: str | None = None
) -> str:
    """The given key; else ``TAP-to-TARGET[+TARGET]`` from the connector names, with the
    tenant appended for any tenant but the default one."""
    if explicit:
        return explicit

    def short(name: str) -> str:
        return Path(name).name.removeprefix("tap-").removeprefix("target-")

    return tenant_key(f"{short(tap)}-to-{'+'.join(short(t) for t in targets)}", tenant)


def state_file_key(state_file: str | Path) -> str:
    """The key `glue state` uses for a ``--state-file`` given without one: the file's stem."""
    return Path(state_file).stem


def max_line_bytes(*choices: int | None) -> int:
    """The first limit given (the caller's, then the flow file's), else 64 MiB."""
    return next((c for c in choices if c), protocol.DEFAULT_MAX_LINE_BYTES)


def timeouts(value: TimeoutsLike, where: str, base: Timeouts | None = None) -> Timeouts:
    """Timeouts from a Timeouts, or a mapping laid over ``base`` (the defaults)."""
    if isinstance(value, Timeouts):
        return value
    return (base or Timeouts()).merged(value, where=where)


def flow_timeouts(flow: Flow, overrides: TimeoutsLike = None) -> Timeouts:
    """The defaults, under the flow file's ``timeouts:``, under the caller's."""
    return timeouts(overrides, "timeouts", base=timeouts(flow.timeouts, "flow timeouts"))


def flow_validates(flow: Flow) -> bool:
    """Configs are checked unless one of the flow's connectors says ``validate: false``."""
    return flow.source.validate and all(t.validate for t in (*flow.targets, *flow.mappers))


__all__ = [
    "CATALOG_CACHE_DIR",
    "DEFAULT_TENANT",
    "GLUE_DIR",
    "STATE_DIR",
    "base_dir",
    "batch_jobs_dir",
    "batch_snapshots_dir",
    "catalog_cache_dir",
    "direct_state_key",
    "flow_state_dir",
    "flow_state_key",
    "flow_state_store",
    "flow_timeouts",
    "flow_validates",
    "max_line_bytes",
    "state_file_key",
    "state_store",
    "tenant_key",
    "timeouts",
]
