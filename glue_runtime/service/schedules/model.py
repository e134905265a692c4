"""glue.yml's ``schedules:`` of a flow, as typed :class:`Schedule` objects.

A schedule starts jobs of a flow for the tenants it applies to (every tenant with a read link
in the flow, by default), on a cron expression or an interval, in a timezone, each tenant at
its own jittered offset from the tick. Errors name the key at fault
(``flows.shop.schedules.hourly.cron``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from glue_runtime.errors import ConfigError
from glue_runtime.service.schedules.timing import UTC, Timing, check_cron, check_every, zone
from glue_runtime.workspace.model import Workspace, WorkspaceFlow

ScheduleSyncType = Literal["incremental", "full"]
SCHEDULE_SYNC_TYPES: tuple[ScheduleSyncType, ...] = ("incremental", "full")
KEYS = (
    "cron",
    "every",
    "timezone",
    "tenants",
    "connector",
    "sync_type",
    "streams",
    "jitter",
    "enabled",
)
MAX_DEFAULT_JITTER_S = 300.0  # 5m: the default spread is min(interval / 10, 5m)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclass(frozen=True)
class Schedule:
    """One schedule of a flow (glue.yml), before any tenant's override."""

    flow: str
    name: str
    timing: Timing
    tenants: tuple[str, ...] | None = None  # None: every tenant with a read link in the flow
    connector: str | None = None  # None: each of the tenant's linked sources in the flow
    sync_type: ScheduleSyncType = "incremental"
    streams: tuple[str, ...] | None = None  # None: every selected stream
    jitter_s: float | None = None  # None: min(interval / 10, 5m)
    enabled: bool = True

    @property
    def id(self) -> str:
        """``flow/name``: the schedule's id in tick records and a job's ``started_ref``."""
        return f"{self.flow}/{self.name}"

    def applies_to(self, tenant: str) -> bool:
        """Whether glue.yml's ``tenants:`` includes ``tenant`` (an override may change it)."""
        return self.tenants is None or tenant in self.tenants

    def with_timing(self, timing: Timing) -> Schedule:
        return replace(self, timing=timing)

    def window_s(self, timing: Timing | None = None) -> float:
        """How far after a tick a tenant's run may fall: ``jitter``, else min(interval/10, 5m)."""
        timing = timing or self.timing
        if self.jitter_s is not None:
            return min(self.jitter_s, timing.interval_s * 0.9)
        return min(timing.interval_s / 10, MAX_DEFAULT_JITTER_S)

    def offset_s(self, tenant: str, timing: Timing | None = None) -> int:
        """The tenant's place in the jitter window: whole seconds from a hash of the schedule
        and the tenant, so every server computes the same, and it never changes."""
        window = int(self.window_s(timing))
        if window <= 0:
            return 0
        digest = hashlib.sha256(f"{self.id}\0{tenant}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % (window + 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "flow": self.flow,
            "name": self.name,
            "cron": self.timing.cron,
            "every_s": self.timing.every_s,
            "timezone": self.timing.timezone,
            "tenants": "all" if self.tenants is None else list(self.tenants),
            "connector": self.connector,
            "sync_type": self.sync_type,
            "streams": None if self.streams is None else list(self.streams),
            "jitter_s": self.window_s(),
            "enabled": self.enabled,
        }


def parse_seconds(value: Any, *, where: str) -> float:
    """Seconds from a number or a duration such as 90s, 30m, 2h, 1d."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration such as 15m, 1h or 1d, got {value!r}")
    if isinstance(value, (int, float)) and value >= 0:
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNIT_S[m.group(2)]
    raise ConfigError(
        f"{where}: expected a duration such as 90s, 15m, 1h or 1d, got {value!r}",
        hint="a number is seconds",
    )


def parse_timing(
    cron: Any, every: Any, timezone: Any, *, where: str, cron_key: str = "cron"
) -> Timing:
    """A :class:`Timing` from a cron expression or an interval (exactly one) and a timezone."""
    if (cron is None) == (every is None):
        raise ConfigError(
            f"{where}: give a schedule either `cron` or `every`"
            + (", not both" if cron is not None else ""),
            hint="cron: '0 * * * *' (hourly), or every: 1h",
        )
    tz_name = UTC if timezone is None else timezone
    if not isinstance(tz_name, str):
        raise ConfigError(f"{where}.timezone: expected a timezone name, got {timezone!r}")
    zone(tz_name, where=f"{where}.timezone")
    if cron is not None:
        if not isinstance(cron, str):
            raise ConfigError(f"{where}.{cron_key}: expected a cron expression, got {cron!r}")
        return Timing(cron=check_cron(cron, where=f"{where}.{cron_key}"), timezone=tz_name)
    seconds = parse_seconds(every, where=f"{where}.every")
    return Timing(every_s=check_every(seconds, where=f"{where}.every"), timezone=tz_name)


def _names(value: Any, *, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of names, got {value!r}")
    return tuple(value)


def _tenants(value: Any, *, where: str) -> tuple[str, ...] | None:
    if value is None or value == "all":
        return None
    if isinstance(value, str):
        raise ConfigError(
            f"{where}: expected all or a list of tenant ids, got {value!r}",
            hint=f"tenants: [{value}] for one tenant",
        )
    return _names(value, where=where)


def _connector(value: Any, flow: WorkspaceFlow, *, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in flow.sources:
        raise ConfigError(
            f"{where}: {value!r} is not a source of flow '{flow.name}'",
            hint=f"one of: {', '.join(flow.sources) or '(the flow has no sources)'}",
        )
    return value


def _sync_type(value: Any, *, where: str) -> ScheduleSyncType:
    for known in SCHEDULE_SYNC_TYPES:
        if value == known:
            return known
    raise ConfigError(
        f"{where}: unknown sync type {value!r}", hint=f"one of: {', '.join(SCHEDULE_SYNC_TYPES)}"
    )


def parse_schedule(flow: WorkspaceFlow, name: str, raw: Any) -> Schedule:
    """One schedule of ``flow`` from glue.yml; ConfigError naming the key at fault."""
    where = f"flows.{flow.name}.schedules.{name}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping such as {{cron: '0 * * * *'}}")
    unknown = sorted(str(k) for k in raw if k not in KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(KEYS)}"
        )
    timing = parse_timing(raw.get("cron"), raw.get("every"), raw.get("timezone"), where=where)
    jitter = raw.get("jitter")
    jitter_s = None if jitter is None else parse_seconds(jitter, where=f"{where}.jitter")
    if jitter_s is not None and jitter_s >= timing.interval_s:
        raise ConfigError(
            f"{where}.jitter: {jitter!r} is not shorter than the schedule's interval "
            f"({timing.interval_s}s)",
            hint="the jitter spreads tenants inside one interval; leave it out for the default",
        )
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled: expected true or false, got {enabled!r}")
    streams = raw.get("streams")
    return Schedule(
        flow=flow.name,
        name=name,
        timing=timing,
        tenants=_tenants(raw.get("tenants"), where=f"{where}.tenants"),
        connector=_connector(raw.get("connector"), flow, where=f"{where}.connector"),
        sync_type=_sync_type(raw.get("sync_type", "incremental"), where=f"{where}.sync_type"),
        streams=None if streams is None else _names(streams, where=f"{where}.streams"),
        jitter_s=jitter_s,
        enabled=enabled,
    )


def flow_schedules(flow: WorkspaceFlow) -> dict[str, Schedule]:
    """The flow's schedules by name."""
    return {name: parse_schedule(flow, name, raw) for name, raw in flow.schedules.items()}


def workspace_schedules(workspace: Workspace, flow: str | None = None) -> list[Schedule]:
    """Every schedule of the workspace (of ``flow`` only, when given: ConfigError if unknown)."""
    flows = [workspace.flow(flow)] if flow is not None else list(workspace.flows.values())
    return [s for f in flows for s in flow_schedules(f).values()]


def find_schedule(workspace: Workspace, flow: str, name: str) -> Schedule:
    """The schedule ``name`` of ``flow``; ConfigError (a 404 for the API) when there is none."""
    from glue_runtime.workspace.names import unknown

    found = flow_schedules(workspace.flow(flow))
    if name not in found:
        raise unknown(
            "schedule",
            name,
            list(found),
            where=f"flow '{flow}'",
            hint=f"add it under flows.{flow}.schedules in glue.yml",
        )
    return found[name]
