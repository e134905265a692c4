"""One linked source of a workspace flow as a core run: a :class:`~glue_runtime.plan.RunRequest`
and a builder whose catalog and field map steps know the tenant.

The core stays ignorant of tenants: it gets configs (the link's, merged over the app's), a
state store and key, a catalog and a selection, as for any run. What differs per tenant:

- the tap's config: the source's app config with the link's settings, fresh credentials and
  the tenant's overrides (linkconfig.py); targets get ``{tenant}``, ``{flow}`` and
  ``{connector}`` (the source's id) filled, and a target with auth the tenant's write link;
- the catalog: the tenant's own, from the store; else discovered with the tenant's config and
  saved; a supported connector with a fixed ``catalog`` file uses that;
- the field map: the tenant's override if it has one, else the source's, else the flow's; a
  stream or field the tenant's catalog lacks is a warning for that tenant (tenantmap.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glue_runtime import defaults
from glue_runtime.connectors import validate_config
from glue_runtime.discovery import run_discovery
from glue_runtime.errors import ConfigError, GlueError
from glue_runtime.fieldmap import FieldMap, load_field_map
from glue_runtime.plan import CatalogChoice, ProgressFn, RunBuilder, RunRequest, load_config
from glue_runtime.result import JobResult
from glue_runtime.secrets import secret_values
from glue_runtime.selection import RunSelection
from glue_runtime.spec import Endpoint
from glue_runtime.workspace import runparts
from glue_runtime.workspace.linkconfig import deep_merge, fill_placeholders, link_config
from glue_runtime.workspace.model import SupportedConnector, WorkspaceFlow
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import Link
from glue_runtime.workspace.tenantmap import parse_override, resolve_for_tenant
from glue_runtime.workspace.writeback import keep_in_store

log = logging.getLogger("glue_runtime.workspace.runs")


@dataclass(frozen=True)
class LinkJob:
    """One linked source of a flow, to run for its tenant."""

    flow: WorkspaceFlow
    tenant: str
    source: SupportedConnector
    link: Link

    @property
    def name(self) -> str:
        """``flow/tenant/connector``: the job's name in messages and its state key."""
        return runparts.state_key(self.flow.name, self.tenant, self.source.id)


@dataclass(frozen=True)
class RunOptions:
    """How to run a workspace flow's links (the same for each of them)."""

    full_refresh: bool = False
    refresh_catalog: bool = False
    on_progress: ProgressFn | None = None
    timeouts: defaults.TimeoutsLike = None
    # The tap config's ``start_date`` for this run only (a job's override): never saved to the
    # link, as the config-writeback hook sees it as an app setting, not a credential.
    start_date: str | None = None


# What an OAuth token answer holds besides the tokens: not secret, and common words ("Bearer")
# that masking would blot out of every log line.
_NOT_SECRET = frozenset({"token_type", "scope", "expires_in", "expires_at"})


@dataclass
class _Secrets:
    """Values to keep out of the job's logs and errors."""

    values: set[str] = field(default_factory=set)

    def add(self, config: Mapping[str, Any], names: tuple[str, ...] | set[str] = ()) -> None:
        self.values |= secret_values(config, set(names))

    def add_credentials(self, secrets: Mapping[str, Any]) -> None:
        """Every value of a link's credentials, but the token answer's plain fields."""
        self.add({k: v for k, v in secrets.items() if k not in _NOT_SECRET}, set(secrets))


def _target_config(
    opened: Opened, job: LinkJob, target: SupportedConnector, hidden: _Secrets
) -> dict[str, Any]:
    """A flow target's config for this job: placeholders filled (``{connector}`` is the
    source's id, so each source can land apart), merged with the tenant's write link."""
    names = {"tenant": job.tenant, "flow": job.flow.name, "connector": job.source.id}
    where = f"flow '{job.flow.name}' target '{target.id}' config"
    if not target.needs_link:
        return dict(fill_placeholders(target.config, names, {}, where))
    link = opened.store.find_link(job.flow.name, job.tenant, target.id)
    if link is None:
        raise ConfigError(
            f"tenant '{job.tenant}' has no link for target '{target.id}' of flow "
            f"'{job.flow.name}' (it writes into the tenant's own system)",
            hint=f"link it: glue link {job.flow.name} {target.id} --tenant {job.tenant}",
        )
    _version, secrets = runparts.fresh_credentials(opened, link)
    hidden.add_credentials(secrets)
    base = fill_placeholders(target.config, names, {**link.settings, **secrets}, where)
    merged = deep_merge(deep_merge(base, link.settings), secrets)
    config = deep_merge(merged, runparts.tenant_overrides(opened, job.tenant, target.id))
    hidden.add(config, target.secret_settings)
    return config


def link_request(opened: Opened, job: LinkJob, options: RunOptions) -> RunRequest:
    """The core run request of one linked source."""
    ws, flow, src = opened.workspace, job.flow, job.source
    version, secrets = runparts.fresh_credentials(opened, job.link)
    tap_config = link_config(
        src.config,
        flow=flow.name,
        tenant=job.tenant,
        connector=src.id,
        settings=job.link.settings,
        secrets=secrets,
        overrides=runparts.tenant_overrides(opened, job.tenant, src.id),
    )
    if options.start_date is not None:
        tap_config = {**tap_config, "start_date": options.start_date}
    hidden = _Secrets()
    hidden.add_credentials(secrets)
    hidden.add(tap_config, src.secret_settings)
    targets = [
        (
            runparts.resolve_connector(ws, t.connector, "target"),
            _target_config(opened, job, t, hidden),
        )
        for t in flow.targets.values()
    ]
    names = {"tenant": job.tenant, "flow": flow.name, "connector": src.id}
    mappers = [
        (
            runparts.resolve_connector(ws, str(m.get("connector") or m.get("name")), "mapper"),
            dict(fill_placeholders(m.get("config") or {}, names, {}, f"flow '{flow.name}' mapper")),
        )
        for m in flow.mappers
    ]
    base = defaults.timeouts(flow.timeouts, f"flow '{flow.name}' timeouts")
    return RunRequest(
        tap=runparts.resolve_connector(ws, src.connector, "tap"),
        tap_config=tap_config,
        targets=targets,
        mappers=mappers,
        store=runparts.state_store(opened),
        state_key=job.name,
        field_map=src.field_map or flow.field_map,
        etl=flow.etl,
        etl_mode=flow.etl_mode,
        etl_format=flow.etl_format,
        full_refresh=options.full_refresh,
        secrets=frozenset(hidden.values),
        cwd=ws.root,
        on_progress=options.on_progress,
        flow_name=flow.name,
        tenant=job.tenant,
        timeouts=defaults.timeouts(options.timeouts, "timeouts", base),
        connector_id=src.id,
        on_tap_config_update=keep_in_store(opened.store, job.link, version, secrets, tap_config),
    )


class LinkRunBuilder(RunBuilder):
    """The run builder with the catalog and field map steps of a tenant's link."""

    def __init__(
        self, request: RunRequest, job: LinkJob, opened: Opened, *, refresh_catalog: bool = False
    ) -> None:
        super().__init__(request)
        self.job = job
        self.opened = opened
        self.refresh_catalog = refresh_catalog
        self.warnings: list[str] = []  # this tenant's: what its catalog lacks of the field map
        self._field_map: FieldMap | None = None
        self._field_map_read = False

    def tenant_field_map(self) -> FieldMap | None:
        """The tenant's override (store), else the source's field map, else the flow's."""
        if not self._field_map_read:
            job = self.job
            text = self.opened.store.fieldmap_override(job.flow.name, job.tenant, job.source.id)
            if text is not None:
                where = f"the field map override of tenant '{job.tenant}' for {job.name}"
                self._field_map = parse_override(text, source=where)
            elif self.request.field_map is not None:
                self._field_map = load_field_map(self.request.field_map)
            self._field_map_read = True
        return self._field_map

    def catalog(self, tap: Endpoint) -> CatalogChoice:
        """The fixed catalog; else the tenant's stored one; else discovered with the tenant's
        config and saved (when the tap discovers, or a field map needs a catalog)."""
        job, store, req = self.job, self.opened.store, self.request
        if job.source.catalog is not None:
            return CatalogChoice(load_config(job.source.catalog, "catalog"), "given")
        if not self.refresh_catalog:
            stored = store.catalog(job.flow.name, job.tenant, job.source.id)
            if stored is not None:
                return CatalogChoice(stored, "cache")
        if self.tenant_field_map() is None and "discover" not in tap.connector.capabilities:
            return CatalogChoice(None, "none")
        if req.validate:
            validate_config(tap.connector, tap.config)
        catalog = run_discovery(
            tap.connector, tap.config, cwd=req.cwd, timeout=req.timeouts.discover
        )
        store.save_catalog(job.flow.name, job.tenant, job.source.id, catalog)
        log.info("%s: catalog discovered (%d streams) and saved", job.name, len(catalog["streams"]))
        return CatalogChoice(catalog, "discovered")

    def field_map(self, catalog: dict[str, Any] | None) -> RunSelection | None:
        """The tenant's field map on the tenant's catalog; what it lacks is a warning."""
        field_map = self.tenant_field_map()
        if field_map is None:
            return None
        if catalog is None:
            raise ConfigError(f"{self.job.name}: the field map needs the tap's catalog")
        selection, warnings = resolve_for_tenant(field_map, catalog, self.job.tenant)
        self.warnings.extend(warnings)
        return selection


def not_started(job: LinkJob, error: GlueError) -> JobResult:
    """The result of a link's run that failed before any connector started."""
    return JobResult(
        job_id=uuid.uuid4().hex[:12],
        status="failed",
        duration_s=0.0,
        error=error,
        started=False,
        state_key=job.name,
    )


def run_link(opened: Opened, job: LinkJob, options: RunOptions) -> JobResult:
    """Run one linked source into the flow's targets; a failure is in the result."""
    try:
        request = link_request(opened, job, options)
        builder = LinkRunBuilder(request, job, opened, refresh_catalog=options.refresh_catalog)
        plan = builder.build()
    except GlueError as exc:
        return not_started(job, exc)
    result = plan.execute()
    result.warnings[:0] = builder.warnings
    return result
