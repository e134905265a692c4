"""`glue schedules list|set|pause|resume`: when flows run on their own, per tenant.

The schedules themselves are glue.yml's (``flows.F.schedules``); these commands show them
with each tenant's next run, and keep per-tenant overrides in the store.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from glue_runtime.cli import _echo_json, _note, main
from glue_runtime.errors import UsageError

if TYPE_CHECKING:
    from glue_runtime.service.schedules.model import Schedule
    from glue_runtime.workspace.open import Opened


@main.group(name="schedules")
def schedules_group() -> None:
    """Schedules: when flows run on their own (docs/jobs.md)."""


@schedules_group.command("list")
@click.argument("flow", required=False)
@click.option("--tenant", default=None, help="Only this tenant.")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def schedules_list(flow: str | None, tenant: str | None, as_json: bool) -> None:
    """Each schedule per tenant, with its next run in the schedule's timezone."""
    from glue_runtime.service.schedules.views import schedule_rows
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        if tenant is not None:
            opened.store.tenant(tenant)
        rows = schedule_rows(opened, time.time(), flow=flow, tenant=tenant)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        _note("no schedules apply: add one under flows.FLOW.schedules in glue.yml")
    for row in rows:
        state = row["next_run"] if row["enabled"] else f"off ({row['why_off']})"
        mark = " *override" if row["override"] else ""
        click.echo(
            f"{row['flow']}/{row['schedule']:<16} {row['tenant']:<20} {row['timing']:<32} "
            f"next: {state}{mark}"
        )


def _one_action(cron: str | None, every: str | None, **flags: bool) -> None:
    chosen = [n for n, on in flags.items() if on] + [
        n for n, v in (("cron", cron), ("every", every)) if v is not None
    ]
    if len([c for c in chosen if c in ("enable", "disable", "clear")]) > 1 or (
        "clear" in chosen and len(chosen) > 1
    ):
        raise UsageError(
            f"--{' and --'.join(chosen)} do not go together",
            hint="one of --enable, --disable, --clear; --cron or --every may go with --enable",
        )
    if cron is not None and every is not None:
        raise UsageError("--cron and --every do not go together", hint="give one of them")


@schedules_group.command("set")
@click.argument("flow")
@click.argument("schedule")
@click.option("--tenant", required=True, help="The tenant whose schedule this is.")
@click.option("--cron", default=None, help="Another cron expression for this tenant.")
@click.option("--every", default=None, help="Another interval for this tenant (15m, 1h, 1d).")
@click.option("--timezone", default=None, help="Another timezone for this tenant.")
@click.option("--enable", is_flag=True, help="Turn the schedule on for this tenant.")
@click.option("--disable", is_flag=True, help="Turn the schedule off for this tenant.")
@click.option("--clear", is_flag=True, help="Drop this tenant's override: glue.yml's applies.")
def schedules_set(
    flow: str,
    schedule: str,
    tenant: str,
    cron: str | None,
    every: str | None,
    timezone: str | None,
    enable: bool,
    disable: bool,
    clear: bool,
) -> None:
    """Override a schedule for one tenant (another cron or interval, off, on, or cleared)."""
    from glue_runtime.service.schedules.model import find_schedule
    from glue_runtime.service.schedules.overrides import set_override
    from glue_runtime.workspace.open import open_workspace

    _one_action(cron, every, enable=enable, disable=disable, clear=clear)
    if not (cron or every or timezone or enable or disable or clear):
        raise UsageError(
            "nothing to set",
            hint="give --cron, --every, --timezone, --enable, --disable or --clear",
        )
    enabled = True if enable else False if disable else None
    with open_workspace() as opened:
        found = find_schedule(opened.workspace, flow, schedule)
        set_override(
            opened.store,
            found,
            tenant,
            cron=cron,
            every=every,
            timezone=timezone,
            enabled=enabled,
            clear=clear,
            by="cli",
        )
        _show(opened, found, tenant)


def _show(opened: Opened, schedule: Schedule, tenant: str) -> None:
    from glue_runtime.service.schedules.views import schedule_rows

    rows = schedule_rows(opened, time.time(), tenant=tenant, schedules=[schedule])
    for row in rows:
        state = f"next run {row['next_run']}" if row["enabled"] else f"off ({row['why_off']})"
        click.echo(f"{schedule.id} for tenant {tenant}: {row['timing']}, {state}")


def _pause(flow: str, schedule: str, tenant: str | None, on: bool) -> None:
    from glue_runtime.service.schedules.model import find_schedule
    from glue_runtime.service.schedules.overrides import set_override
    from glue_runtime.service.schedules.tables import ALL_TENANTS
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        found = find_schedule(opened.workspace, flow, schedule)
        who = tenant if tenant is not None else ALL_TENANTS
        set_override(opened.store, found, who, enabled=on, by="cli")
    whom = f"tenant '{tenant}'" if tenant else "every tenant"
    click.echo(f"{found.id}: {'resumed' if on else 'paused'} for {whom}")


@schedules_group.command("pause")
@click.argument("flow")
@click.argument("schedule")
@click.option("--tenant", default=None, help="Only for this tenant (default: the whole schedule).")
def schedules_pause(flow: str, schedule: str, tenant: str | None) -> None:
    """Pause a schedule: no tick fires (for every tenant, or one) until it is resumed."""
    _pause(flow, schedule, tenant, False)


@schedules_group.command("resume")
@click.argument("flow")
@click.argument("schedule")
@click.option("--tenant", default=None, help="Only for this tenant (default: the whole schedule).")
def schedules_resume(flow: str, schedule: str, tenant: str | None) -> None:
    """Resume a paused schedule; ticks missed while it was paused do not fire."""
    _pause(flow, schedule, tenant, True)
