"""A flow's ``triggers:`` in glue.yml, as typed settings (the schema checked their shape;
this checks what it cannot: the connector is a source of the flow, durations, paths)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from glue_runtime.errors import ConfigError
from glue_runtime.service.triggers import paths
from glue_runtime.service.triggers.verify import SCHEMES
from glue_runtime.timeouts import parse_duration
from glue_runtime.workspace.model import Workspace, WorkspaceFlow

DEFAULT_DEBOUNCE_S = 5.0
GENERATED_BY_DEFAULT = frozenset({"github", "glue"})  # the others' provider issues the secret
DEFAULT_EVENT_ID = {"stripe": "id", "glue": "id", "slack": "event_id"}  # signed body fields


@dataclass(frozen=True)
class StreamRoute:
    """Which streams an event syncs: fixed ones, or looked up from a body field."""

    fixed: tuple[str, ...] | None = None
    path: tuple[str, ...] | None = None
    map: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unmapped: Literal["all", "ignore"] = "all"


@dataclass(frozen=True)
class Trigger:
    """One trigger of a flow: a signed webhook that starts its tenant's job of ``connector``."""

    flow: str
    name: str
    connector: str
    scheme: str
    secret: Literal["stored", "generated"]
    tenant_path: tuple[str, ...] | None  # None: the tenant comes from the URL's token
    event_id_path: tuple[str, ...] | None  # None: dedupe on the body's SHA-256
    streams: StreamRoute | None
    debounce_s: float
    sync_type: Literal["incremental", "full"] = "incremental"

    @property
    def key(self) -> str:
        """``flow.trigger``: how commands and messages name it (the URL uses a random id)."""
        return f"{self.flow}.{self.name}"

    @property
    def tenant_from_url(self) -> bool:
        return self.tenant_path is None


def _path(value: Any, where: str) -> tuple[str, ...]:
    try:
        return paths.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _streams(raw: Any, where: str) -> StreamRoute | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        return StreamRoute(fixed=tuple(str(s) for s in raw))
    mapping = raw.get("map") or {}
    return StreamRoute(
        path=_path(raw.get("path"), f"{where}.path"),
        map={str(k): tuple(str(s) for s in v) for k, v in mapping.items()},
        unmapped="ignore" if raw.get("unmapped") == "ignore" else "all",
    )


def _event_id(raw: Mapping[str, Any] | None, scheme: str, where: str) -> tuple[str, ...] | None:
    if raw is None:
        default = DEFAULT_EVENT_ID.get(scheme)
        return paths.parse(default) if default else None
    if raw.get("path") is not None:
        return _path(raw["path"], f"{where}.path")
    return None


def parse_trigger(flow: WorkspaceFlow, name: str, raw: Mapping[str, Any]) -> Trigger:
    """One trigger's settings; ConfigError naming the key for what the schema cannot check."""
    where = f"glue.yml flows.{flow.name}.triggers.{name}"
    connector = str(raw.get("connector") or "")
    if connector not in flow.sources:
        raise ConfigError(
            f"{where}.connector: '{connector}' is not a source of flow '{flow.name}'",
            hint=f"one of: {', '.join(flow.sources) or '(the flow has no sources)'}",
        )
    scheme = str(raw.get("scheme") or "")
    if scheme not in SCHEMES:
        raise ConfigError(f"{where}.scheme: unknown scheme {scheme!r}", hint=", ".join(SCHEMES))
    tenant = raw.get("tenant") or {"from": "url"}
    if tenant.get("from") == "body" and not tenant.get("path"):
        raise ConfigError(f"{where}.tenant: from: body needs the path of the tenant's id")
    debounce = parse_duration(raw.get("debounce", DEFAULT_DEBOUNCE_S), where=f"{where}.debounce")
    default_secret = "generated" if scheme in GENERATED_BY_DEFAULT else "stored"
    return Trigger(
        flow=flow.name,
        name=name,
        connector=connector,
        scheme=scheme,
        secret="generated" if raw.get("secret", default_secret) == "generated" else "stored",
        tenant_path=_path(tenant["path"], f"{where}.tenant.path")
        if tenant.get("from") == "body"
        else None,
        event_id_path=_event_id(raw.get("event_id"), scheme, f"{where}.event_id"),
        streams=_streams(raw.get("streams"), f"{where}.streams"),
        debounce_s=debounce or 0.0,
        sync_type="full" if raw.get("sync_type") == "full" else "incremental",
    )


def triggers(workspace: Workspace, flow: str | None = None) -> list[Trigger]:
    """Every trigger of the workspace (or of ``flow``), in glue.yml's order."""
    found: list[Trigger] = []
    for f in [workspace.flow(flow)] if flow else workspace.flows.values():
        found += [parse_trigger(f, str(n), raw or {}) for n, raw in f.triggers.items()]
    return found


def trigger(workspace: Workspace, flow: str, name: str) -> Trigger:
    """The trigger ``flow``.``name``; ConfigError with close matches when there is none."""
    from glue_runtime.workspace.names import unknown

    f = workspace.flow(flow)
    if name not in f.triggers:
        raise unknown(
            "trigger",
            name,
            list(f.triggers),
            where=f"flow '{flow}'",
            hint=f"add it under flows.{flow}.triggers in glue.yml",
        )
    return parse_trigger(f, name, f.triggers[name] or {})
