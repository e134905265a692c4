"""glue.yml's ``jobs:`` block as typed settings: the executor's limits, heartbeats, reruns,
retention and auto-pause.

The schema (glue.schema.json ``properties.jobs``) has already checked the shape when the
workspace loaded; this module turns durations into seconds and checks what a schema cannot
say well (a heartbeat of 0, a stale limit shorter than the heartbeat).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from glue_runtime.errors import ConfigError

if TYPE_CHECKING:
    from glue_runtime.workspace.model import Workspace

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
KEYS = (  # glue.yml's jobs: keys, in the order the docs give them
    "concurrency",
    "per_connector",
    "per_tenant",
    "heartbeat",
    "stale_after",
    "rerun_interrupted",
    "max_attempts",
    "retention",
    "pause_after_failures",
    "poll_interval",
)


@dataclass(frozen=True)
class JobSettings:
    """How jobs run (seconds for durations). ``per_tenant`` None: no cap per tenant;
    ``retention_s`` None: keep job records forever; ``pause_after_failures`` 0: never pause."""

    concurrency: int = 2
    per_connector: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    per_tenant: int | None = None
    heartbeat_s: float = 5.0
    stale_after_s: float = 60.0
    rerun_interrupted: bool = True
    max_attempts: int = 3
    retention_s: float | None = 30 * 86400.0
    pause_after_failures: int = 10
    poll_interval_s: float = 1.0

    def connector_cap(self, connector: str) -> int | None:
        """The most jobs of ``connector`` that may run at once across servers (None: no cap)."""
        return self.per_connector.get(connector)


def parse_seconds(value: Any, *, where: str, allow_zero: bool = False) -> float:
    """Seconds from a number or a string such as ``500ms``, ``90s``, ``30m``, ``2h``, ``30d``."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds is None or seconds != seconds or seconds < 0:
        raise ConfigError(
            f"{where}: expected seconds or a duration such as 90s, 30m, 2h or 30d, got {value!r}"
        )
    if seconds == 0 and not allow_zero:
        raise ConfigError(f"{where}: must be more than 0 (got {value!r})")
    return seconds


def _count(value: Any, *, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _caps(value: Any, *, where: str) -> Mapping[str, int]:
    caps = value or {}
    if not isinstance(caps, Mapping):
        raise ConfigError(f"{where}: expected a mapping of connector id to count, got {value!r}")
    return MappingProxyType(
        {str(k): _count(v, where=f"{where}.{k}", minimum=1) for k, v in caps.items()}
    )


def _flag(value: Any, *, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _retention(value: Any, *, where: str) -> float | None:
    return None if value is None else parse_seconds(value, where=where, allow_zero=True) or None


def _tenant_cap(value: Any, *, where: str) -> int | None:
    return None if value is None else _count(value, where=where, minimum=1)


# key in glue.yml -> (JobSettings field, parser)
_PARSERS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "concurrency": ("concurrency", lambda v, where: _count(v, where=where, minimum=1)),
    "per_connector": ("per_connector", lambda v, where: _caps(v, where=where)),
    "per_tenant": ("per_tenant", lambda v, where: _tenant_cap(v, where=where)),
    "heartbeat": ("heartbeat_s", lambda v, where: parse_seconds(v, where=where)),
    "stale_after": ("stale_after_s", lambda v, where: parse_seconds(v, where=where)),
    "rerun_interrupted": ("rerun_interrupted", lambda v, where: _flag(v, where=where)),
    "max_attempts": ("max_attempts", lambda v, where: _count(v, where=where, minimum=1)),
    "retention": ("retention_s", lambda v, where: _retention(v, where=where)),
    "pause_after_failures": (
        "pause_after_failures",
        lambda v, where: 0 if v is None else _count(v, where=where, minimum=0),
    ),
    "poll_interval": ("poll_interval_s", lambda v, where: parse_seconds(v, where=where)),
}


def parse_job_settings(raw: Mapping[str, Any] | None) -> JobSettings:
    """``JobSettings`` from glue.yml's ``jobs:`` block (``Workspace.jobs``); defaults for the
    keys it leaves out. ConfigError naming the key for a bad value."""
    raw = raw or {}
    unknown = sorted(str(k) for k in raw if k not in _PARSERS)
    if unknown:
        raise ConfigError(
            f"glue.yml jobs.{unknown[0]}: unknown key", hint=f"jobs: knows {', '.join(KEYS)}"
        )
    values = {
        _PARSERS[key][0]: _PARSERS[key][1](value, f"glue.yml jobs.{key}")
        for key, value in raw.items()
    }
    settings = replace(JobSettings(), **values)
    if settings.stale_after_s <= settings.heartbeat_s:
        raise ConfigError(
            f"glue.yml jobs.stale_after ({settings.stale_after_s:g}s) must be longer than "
            f"jobs.heartbeat ({settings.heartbeat_s:g}s)",
            hint="a few heartbeats long: a running job is interrupted when none arrived for "
            "stale_after",
        )
    return settings


def job_settings(workspace: Workspace) -> JobSettings:
    """The settings of a loaded :class:`~glue_runtime.workspace.model.Workspace`."""
    return parse_job_settings(workspace.jobs)
