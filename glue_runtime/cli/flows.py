"""`glue flows list|show` and `glue connectors available`: what a workspace's flows hold, who
linked what, and what could be added."""

from __future__ import annotations

import time
from typing import Any

import click
import orjson

from glue_runtime.cli import _echo_json, _note, connectors_group, main
from glue_runtime.workspace.available import available_connectors
from glue_runtime.workspace.config import find_workspace, load_workspace
from glue_runtime.workspace.open import open_workspace
from glue_runtime.workspace.overview import flow_detail, flows_summary


@main.group("flows")
def flows_group() -> None:
    """The workspace's flows: their connectors, targets and tenants' links."""


@flows_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def flows_list(as_json: bool) -> None:
    """Each flow's sources and targets, their auth kind, how many tenants linked each."""
    with open_workspace() as opened:
        summary = flows_summary(opened)
    if as_json:
        _echo_json(summary)
        return
    if not summary:
        _note("no flows in glue.yml yet (add one under flows:)")
    for flow in summary:
        click.echo(flow["name"] + (f"  {flow['description']}" if flow["description"] else ""))
        for section in ("sources", "targets"):
            click.echo(f"  {section}:")
            for c in flow[section] or []:
                linked = f"{c['tenants_linked']} tenant(s) linked" if c["needs_link"] else "shared"
                click.echo(f"    {c['id']:<16} {c['connector']:<20} {c['auth']:<8} {linked}")
            if not flow[section]:
                click.echo("    (none)")


@flows_group.command("show")
@click.argument("flow")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def flows_show(flow: str, as_json: bool) -> None:
    """A flow's supported connectors (app config, secrets masked), targets, field map, ETL,
    and each tenant's link with its state: ok, needs re-authorisation, never run."""
    with open_workspace() as opened:
        detail = flow_detail(opened, flow)
    if as_json:
        _echo_json(detail)
        return
    click.echo(
        f"flow {detail['name']}" + (f": {detail['description']}" if detail["description"] else "")
    )
    for section in ("sources", "targets"):
        click.echo(f"{section}:")
        for c in detail[section]:
            _echo_connector(detail["name"], c)
        if not detail[section]:
            click.echo("  (none)")
    click.echo(f"field map: {detail['field_map'] or '(none)'}")
    etl = f"{detail['etl']} ({detail['etl_mode']}" + (
        f", {detail['etl_format']})" if detail["etl_mode"] == "batch" else ")"
    )
    click.echo(f"etl: {etl if detail['etl'] else '(none)'}")
    for m in detail["mappers"]:
        click.echo(f"mapper: {m.get('connector')} {_inline(m.get('config') or {})}")
    if detail["timeouts"]:
        click.echo(f"timeouts: {_inline(detail['timeouts'])}")
    _echo_links(detail["links"])


def _echo_connector(flow: str, c: dict[str, Any]) -> None:
    missing = "" if c["available"] else "  [not installed here: `glue connectors install`]"
    click.echo(f"  {c['id']}  ({c['connector']}, auth {c['auth']}){missing}")
    if c["config"]:
        click.echo(f"    config: {_inline(c['config'])}")
    if c["settings"]:
        click.echo(f"    tenant settings: {', '.join(c['settings'])}")
    if c["secret_settings"]:
        click.echo(f"    secret settings: {', '.join(c['secret_settings'])}")
    if c["oauth"]:
        hidden = ("client_secret", "client_secret_from")
        shown = {k: v for k, v in c["oauth"].items() if v not in (None, "", {}) and k not in hidden}
        click.echo(f"    oauth: {_inline(shown)}")
        click.echo(f"    client secret: {_client_secret(flow, c)}")
    for key in ("field_map", "catalog"):
        if c[key]:
            click.echo(f"    {key.replace('_', ' ')}: {c[key]}")


def _client_secret(flow: str, c: dict[str, Any]) -> str:
    where = c["oauth"]["client_secret_from"]
    if where == "environment":
        return "*** (glue.yml, from the environment)"
    if where == "store":
        return "*** (an app secret in the store)"
    return f"not set (`glue secrets set {flow} {c['id']} client_secret`, or ${{VAR}} in glue.yml)"


def _echo_links(links: list[dict[str, Any]]) -> None:
    if not links:
        click.echo("links: none yet (`glue link FLOW CONNECTOR --tenant T`)")
        return
    click.echo("links:")
    click.echo(f"  {'TENANT':<20} {'CONNECTOR':<16} {'AUTH':<8} {'STATE':<24} LAST RUN")
    for lk in links:
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(lk["last_run"]))
            if lk["last_run"]
            else "-"
        )
        click.echo(
            f"  {lk['tenant']:<20} {lk['connector']:<16} {lk['auth']:<8} {lk['state']:<24} {when}"
        )


def _inline(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


@connectors_group.command("available")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def connectors_available(as_json: bool) -> None:
    """What can be added to a flow: connectors installed here and those the workspace
    installed, with their kind, auth kind (guessed from their settings) and settings."""
    folder = find_workspace()
    found = available_connectors(load_workspace(folder) if folder is not None else None)
    if as_json:
        _echo_json(found)
        return
    if not found:
        _note("no connectors available (pip install ./connectors/NAME, or glue connectors install)")
    for c in found:
        click.echo(
            f"{c['name']:<24} {c['kind']:<7} auth {c['auth']:<8} {c['source']:<12} {c['location']}"
        )
        if c["supported_in"]:
            click.echo(f"    supported in: {', '.join(c['supported_in'])}")
        if c["problem"]:
            click.echo(f"    (no settings: {c['problem']})")
        for s in c["settings"]:
            flags = [f for f, on in (("required", s["required"]), ("secret", s["secret"])) if on]
            extra = f" [{', '.join(flags)}]" if flags else ""
            click.echo(f"    {s['name']:<24}{extra} {s['description']}")
