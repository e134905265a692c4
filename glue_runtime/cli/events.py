"""`glue events list|show|replay` and `glue events secret new`: outbound webhook events.

Heavy imports (SQLAlchemy, requests) happen inside the commands.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from glue_runtime.cli import _echo_json, _note, main


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


@main.group(name="events")
def events_group() -> None:
    """Outbound webhook events: list, show and replay them (docs/server.md)."""


@events_group.command("list")
@click.option("--type", "type_", help="Only events of this type (job.failed, link.paused...).")
@click.option("--status", help="Only events with a delivery in this status.")
@click.option("--endpoint", help="Only events with a delivery to this endpoint.")
@click.option("--tenant", help="Only this tenant's events.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def events_list(
    type_: str | None,
    status: str | None,
    endpoint: str | None,
    tenant: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest events first, each delivery's endpoint, status and attempts."""
    from glue_runtime.service.eventlog import list_events
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        rows = list_events(
            opened.store, type_=type_, status=status, endpoint=endpoint, tenant=tenant, limit=limit
        )
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        _note("no events")
    for e in rows:
        sent = (
            ", ".join(f"{d['endpoint']}={d['status']}({d['attempts']})" for d in e["deliveries"])
            or "-"
        )
        click.echo(
            f"{e['id']:<28} {e['type']:<18} {e['tenant'] or '-':<16} {_when(e['created_at'])}  "
            f"{sent}"
        )


@events_group.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def events_show(event_id: str, as_json: bool) -> None:
    """One event: its payload, and each delivery with every attempt."""
    from glue_runtime.service.eventlog import show_event
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        shown = show_event(opened.store, event_id)
    if as_json:
        _echo_json(shown)
        return
    for key in ("id", "type", "tenant"):
        click.echo(f"{key}: {shown[key] or '-'}")
    click.echo(f"created: {_when(shown['created_at'])}")
    click.echo("data:")
    for k, v in shown["data"].items():
        click.echo(f"  {k}: {v}")
    for d in shown["deliveries"]:
        _echo_delivery(d)


def _echo_delivery(d: dict[str, Any]) -> None:
    nxt = f", next {_when(d['next_attempt_at'])}" if d["next_attempt_at"] else ""
    click.echo(f"delivery {d['id']} to {d['endpoint']}: {d['status']}{nxt}")
    for a in d["attempt_log"]:
        what = f"HTTP {a['code']}" if a["code"] is not None else "no answer"
        error = f" ({a['error']})" if a["error"] else ""
        click.echo(f"  attempt {a['attempt']} at {_when(a['at'])}: {what}{error}")


@events_group.command("replay")
@click.argument("event_id")
@click.option("--endpoint", help="Only to this endpoint (default: every one that receives it).")
def events_replay(event_id: str, endpoint: str | None) -> None:
    """Send an event again, with the same id and body (a new delivery, retried as usual)."""
    from glue_runtime.service.eventlog import replay
    from glue_runtime.service.webhooks import endpoints
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        made = replay(opened.store, event_id, endpoints(opened.workspace), only=endpoint)
    for d in made:
        click.echo(f"queued {d['id']}: event {event_id} to {d['endpoint']}")


@events_group.group("secret")
def secret_group() -> None:
    """Endpoints' signing secrets."""


@secret_group.command("new")
@click.argument("endpoint_name", metavar="ENDPOINT")
@click.option(
    "--keep-old",
    default="0",
    show_default=True,
    metavar="DURATION",
    help="Keep signing with the secret it replaces too (a second v1=) for this long, e.g. 24h, "
    "while the receiver moves to the new one.",
)
def secret_new(endpoint_name: str, keep_old: str) -> None:
    """Generate ENDPOINT's signing secret, store it encrypted and print it once (it replaces
    the one before: give the new one to the receiver)."""
    from glue_runtime.service.webhooks import endpoint, new_secret
    from glue_runtime.timeouts import parse_duration
    from glue_runtime.workspace.open import open_workspace

    keep = parse_duration(keep_old, where="--keep-old") or 0.0
    with open_workspace() as opened:
        ep = endpoint(opened.workspace, endpoint_name)
        value = new_secret(opened.store, ep, keep_old_s=keep)
        opened.store.record("webhook_secret_new", f"webhook:{ep.name}")
    _note(f"the signing secret of endpoint '{ep.name}' (shown once; stored encrypted):")
    click.echo(value)
