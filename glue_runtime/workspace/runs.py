"""Running a workspace flow for tenants: which links run, one after another, each as a core job.

``glue run FLOW --tenant T`` and :func:`run_workspace_flow` come here. For a tenant, each of
its read links in the flow runs (``connector`` for one) into the flow's targets; a source the
tenant has not linked is skipped with a note; a tenant with no link in the flow at all is a
named error. ``all_tenants`` runs every tenant with links in the flow, one after another. Each
link's run is built in runbuild.py and is its own job: one failing does not stop the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from glue_runtime.defaults import TimeoutsLike
from glue_runtime.errors import ConfigError, UsageError
from glue_runtime.result import JobResult
from glue_runtime.workspace.model import WorkspaceFlow
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.runbuild import LinkJob, RunOptions, run_link

log = logging.getLogger("glue_runtime.workspace.runs")

Note = Callable[[str], None]


def source_ids(flow: WorkspaceFlow, connector: str | None) -> list[str]:
    """The flow's sources to run: all, or ``connector`` (a named error if it is none)."""
    if connector is None:
        return list(flow.sources)
    if connector in flow.targets:
        raise ConfigError(
            f"'{connector}' is a target of flow '{flow.name}', not a source: runs read sources",
            hint=f"sources of {flow.name}: {', '.join(flow.sources) or '(none)'}",
        )
    if connector not in flow.sources:
        raise unknown("source", connector, list(flow.sources), where=f"flow '{flow.name}'")
    return [connector]


def tenant_jobs(
    opened: Opened, flow: WorkspaceFlow, tenant: str, connector: str | None, note: Note
) -> list[LinkJob]:
    """The tenant's links to run in ``flow``, in the order glue.yml lists the sources."""
    opened.store.tenant(tenant)  # a named error, with close matches, for an unknown tenant
    linked = {
        lk.connector: lk
        for lk in opened.store.links(tenant=tenant, flow=flow.name)
        if lk.direction == "read" and lk.connector in flow.sources
    }
    if not linked:
        raise ConfigError(
            f"tenant '{tenant}' has no linked source in flow '{flow.name}'",
            hint=f"link one: glue link {flow.name} SOURCE --tenant {tenant} "
            f"(sources: {', '.join(flow.sources) or 'none'})",
        )
    jobs = []
    for cid in source_ids(flow, connector):
        if cid not in linked:
            if connector is not None:
                opened.store.link(flow.name, tenant, cid)  # raises, naming what is linked
            note(f"{flow.name}/{tenant}: no link for source '{cid}': skipped")
            continue
        jobs.append(LinkJob(flow, tenant, flow.sources[cid], linked[cid]))
    return jobs


def select_jobs(
    opened: Opened,
    flow_name: str,
    *,
    tenant: str | None,
    all_tenants: bool,
    connector: str | None = None,
    note: Note = log.info,
) -> list[LinkJob]:
    """The links a run of ``flow_name`` runs, for ``tenant`` or for every tenant."""
    flow = opened.workspace.flow(flow_name)
    if all_tenants == (tenant is not None):
        raise UsageError(
            "give --tenant T or --all-tenants"
            if not all_tenants
            else "--tenant or --all-tenants, not both",
            hint="`glue tenants list` shows the tenants",
        )
    if tenant is not None:
        return tenant_jobs(opened, flow, tenant, connector, note)
    source_ids(flow, connector)  # a wrong --connector is an error even with no tenants
    with_links = sorted({lk.tenant for lk in opened.store.links(flow=flow.name)})
    jobs: list[LinkJob] = []
    for t in with_links:
        try:
            jobs.extend(tenant_jobs(opened, flow, t, connector, note))
        except ConfigError as exc:  # no read link (only write links), or not this connector
            note(f"{flow.name}/{t}: skipped: {exc.message}")
    if not jobs:
        note(f"no tenant has a linked source in flow '{flow.name}'")
    return jobs


@contextmanager
def _opened(workspace: str | Path | Opened | None) -> Iterator[Opened]:
    if isinstance(workspace, Opened):
        yield workspace
        return
    with open_workspace(Path(workspace) if workspace is not None else None) as opened:
        yield opened


def run_jobs(
    opened: Opened, jobs: list[LinkJob], options: RunOptions
) -> Iterator[tuple[LinkJob, JobResult]]:
    """Run the jobs one after another, yielding each result as it ends. An interrupted job
    (Ctrl-C, SIGTERM) stops the rest: the user asked the run to stop."""
    for i, job in enumerate(jobs):
        log.info("%s: running", job.name)
        result = run_link(opened, job, options)
        yield job, result
        if result.status == "interrupted" and i + 1 < len(jobs):
            log.warning(
                "%s was interrupted: not running %s",
                job.name,
                ", ".join(j.name for j in jobs[i + 1 :]),
            )
            return


def run_workspace_flow(
    flow: str,
    *,
    tenant: str | None = None,
    all_tenants: bool = False,
    connector: str | None = None,
    workspace: str | Path | Opened | None = None,
    full_refresh: bool = False,
    refresh_catalog: bool = False,
    timeouts: TimeoutsLike = None,
) -> list[JobResult]:
    """Run a workspace flow's linked sources for ``tenant`` (or every tenant), one job each.

    ``workspace``: its folder (default: GLUE_WORKSPACE, else the nearest glue.yml upwards), or
    an already opened one. Returns one :class:`JobResult` per link run, in order (their
    ``state_key`` is ``flow/tenant/connector``); a failed job does not raise (see
    ``result.raise_for_status()``), a wrong flow, tenant or connector does (ConfigError).
    """
    options = RunOptions(full_refresh, refresh_catalog, None, timeouts)
    with _opened(workspace) as opened:
        jobs = select_jobs(
            opened, flow, tenant=tenant, all_tenants=all_tenants, connector=connector
        )
        return [result for _job, result in run_jobs(opened, jobs, options)]


__all__ = [
    "LinkJob",
    "RunOptions",
    "run_jobs",
    "run_workspace_flow",
    "select_jobs",
    "source_ids",
]
