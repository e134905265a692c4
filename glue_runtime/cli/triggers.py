"""`glue triggers list|show|url|secret`: the webhooks that start jobs (docs/triggers.md).

A secret is printed once, when glue_runtime makes it (``secret new``, ``rotate`` of a
generated one); a tenant's URL token likewise (``url``). Both are stored hashed or encrypted.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from glue_runtime.cli import _echo_json, _note, main
from glue_runtime.errors import UsageError

Command = TypeVar("Command", bound=Callable[..., Any])


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _duration(value: str, option: str) -> float:
    from glue_runtime.timeouts import parse_duration

    return parse_duration(value, where=option) or 0.0


@main.group(name="triggers")
def triggers_group() -> None:
    """Triggers: signed webhooks that start jobs (docs/triggers.md)."""


@triggers_group.command("list")
@click.argument("flow", required=False)
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def list_command(flow: str | None, as_json: bool) -> None:
    """The triggers of every flow (or of FLOW): URL, scheme, secret set, last delivery."""
    from glue_runtime.service.triggers.overview import describe
    from glue_runtime.service.triggers.settings import triggers
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        found = [describe(opened, t) for t in triggers(opened.workspace, flow)]
    if as_json:
        _echo_json(found)
        return
    for t in found:
        last = t["last_delivery"]
        seen = f"{_when(last['received_at'])} {last['outcome']}" if last else "none in 24 h"
        secret = "secret set" if t["secret_set"] else "NO SECRET (glue triggers secret ...)"
        click.echo(f"{t['trigger']}  {t['connector']}  {t['scheme']}  {secret}  last: {seen}")
        click.echo(f"    {t['url']}")
    if not found:
        click.echo("no triggers (add them under a flow's triggers: in glue.yml)")


@triggers_group.command("show")
@click.argument("flow")
@click.argument("trigger")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def show_command(flow: str, trigger: str, as_json: bool) -> None:
    """One trigger: settings, URL, secret status (never the secret), recent deliveries."""
    from glue_runtime.service.triggers.overview import describe
    from glue_runtime.service.triggers.settings import trigger as find
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        found = describe(opened, find(opened.workspace, flow, trigger), full=True)
    if as_json:
        _echo_json(found)
        return
    _show(found)


def _show(t: dict[str, Any]) -> None:
    secret = t["secret"]
    click.echo(f"trigger      {t['trigger']} ({t['scheme']}) -> connector {t['connector']}")
    click.echo(f"url          {t['url']}")
    where = f"body at {t['tenant_path']}" if t["tenant_path"] else "the tenant's URL token"
    click.echo(f"tenant       from {where}")
    click.echo(f"dedupe       {t['event_id_path'] or 'SHA-256 of the body'} (24 h)")
    click.echo(f"debounce     {t['debounce_s']:g} s, sync type {t['sync_type']}")
    state = f"set {_when(secret['set_at'])} ({secret['origin']})" if secret["set_at"] else "NOT SET"
    click.echo(f"secret       {secret['kind']}: {state}")
    if secret["previous_valid_until"]:
        click.echo(
            f"             the previous one verifies until {_when(secret['previous_valid_until'])}"
        )
    if t["tenants_with_urls"]:
        click.echo(f"tenant URLs  {', '.join(t['tenants_with_urls'])}")
    for d in t["deliveries"]:
        job = f" job {d['job']}" if d["job"] else ""
        click.echo(f"delivery     {_when(d['received_at'])} {d['tenant']} {d['outcome']}{job}")


@triggers_group.command("url")
@click.argument("flow")
@click.argument("trigger")
@click.option("--tenant", required=True, help="The tenant whose own URL to make.")
@click.option("--revoke", is_flag=True, help="Revoke the tenant's URLs instead.")
def url_command(flow: str, trigger: str, tenant: str, revoke: bool) -> None:
    """A tenant's own URL for a trigger whose tenant comes from the URL (shown once)."""
    from glue_runtime.service.triggers import records
    from glue_runtime.service.triggers.overview import hook_url
    from glue_runtime.service.triggers.settings import trigger as find
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        t = find(opened.workspace, flow, trigger)
        if not t.tenant_from_url:
            raise UsageError(
                f"trigger {t.key} reads the tenant from the signed body, not from its URL",
                hint=f"give the provider {hook_url(opened, t)}",
            )
        if revoke:
            count = records.revoke_tenant_tokens(opened.store, t, tenant)
            click.echo(f"revoked {count} URL(s) of tenant '{tenant}' for {t.key}")
            return
        token = records.new_tenant_token(opened.store, t, tenant)
        click.echo(hook_url(opened, t, token))
    _note("this URL is shown once (it is stored hashed); give it to the provider for this tenant")


@triggers_group.group("secret")
def secret_group() -> None:
    """A trigger's signing secret: set the provider's, or have one made; rotate it."""


def _read_secret(from_env: str | None) -> str:
    if from_env:
        value = os.environ.get(from_env, "")
        if not value:
            raise UsageError(f"environment variable {from_env} is not set or empty")
        return value
    if not sys.stdin.isatty():
        return sys.stdin.read().strip()
    return str(click.prompt("signing secret (not shown)", hide_input=True, err=True)).strip()


def _keep_old_option(default: str) -> Callable[[Command], Command]:
    return click.option(
        "--keep-old",
        default=default,
        show_default=True,
        metavar="DURATION",
        help="Keep the replaced secret verifying this long (the provider may still sign "
        "with it), e.g. 1h; 0 drops it at once.",
    )


@secret_group.command("set")
@click.argument("flow")
@click.argument("trigger")
@click.option("--from-env", "from_env", metavar="VAR", help="Take it from this variable.")
@_keep_old_option("0")
def secret_set(flow: str, trigger: str, from_env: str | None, keep_old: str) -> None:
    """Store the provider's signing secret (from stdin, or asked without echo), encrypted."""
    from glue_runtime.service.triggers import records
    from glue_runtime.service.triggers.settings import trigger as find
    from glue_runtime.workspace.open import open_workspace

    keep = _duration(keep_old, "--keep-old")
    with open_workspace() as opened:
        t = find(opened.workspace, flow, trigger)  # named errors before asking
        value = _read_secret(from_env)
        records.put_secret(opened.store, t, value, origin="set", keep_old_s=keep)
    click.echo(f"stored the signing secret of {t.key} (encrypted)")


@secret_group.command("new")
@click.argument("flow")
@click.argument("trigger")
def secret_new(flow: str, trigger: str) -> None:
    """Make a signing secret for a sender that takes yours (GitHub, glue): shown once."""
    _generate(flow, trigger, rotate=False, keep_old_s=0.0)


@secret_group.command("rotate")
@click.argument("flow")
@click.argument("trigger")
@click.option("--from-env", "from_env", metavar="VAR", help="The provider's new one, from VAR.")
@_keep_old_option("24h")
def secret_rotate(flow: str, trigger: str, from_env: str | None, keep_old: str) -> None:
    """Replace the secret, the old one verifying for --keep-old meanwhile. A generated secret
    is made anew (shown once); a provider's is read like `secret set`."""
    from glue_runtime.service.triggers import records
    from glue_runtime.service.triggers.settings import trigger as find
    from glue_runtime.workspace.open import open_workspace

    keep = _duration(keep_old, "--keep-old")
    with open_workspace() as opened:
        t = find(opened.workspace, flow, trigger)
    if t.secret == "generated" and not from_env:
        _generate(flow, trigger, rotate=True, keep_old_s=keep)
        return
    with open_workspace() as opened:
        value = _read_secret(from_env)
        records.put_secret(opened.store, t, value, origin="set", keep_old_s=keep)
    click.echo(f"rotated the signing secret of {t.key}; the old one verifies for {keep:g} s")


def _generate(flow: str, trigger: str, *, rotate: bool, keep_old_s: float) -> None:
    from glue_runtime.service.triggers import records
    from glue_runtime.service.triggers.settings import trigger as find
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        t = find(opened.workspace, flow, trigger)
        if t.secret == "stored":
            raise UsageError(
                f"{t.scheme} issues the signing secret of trigger {t.key}: copy it from the "
                "provider's webhook settings",
                hint=f"glue triggers secret set {flow} {trigger}",
            )
        has = records.secret_status(opened.store, t).current_set_at is not None
        if has and not rotate:
            raise UsageError(
                f"trigger {t.key} already has a secret",
                hint=f"glue triggers secret rotate {flow} {trigger} (the old one keeps "
                "verifying for --keep-old)",
            )
        value = records.new_secret()
        records.put_secret(opened.store, t, value, origin="generated", keep_old_s=keep_old_s)
    click.echo(value)
    _note(
        f"the signing secret of {t.key}, shown once (stored encrypted): paste it into the "
        "sender's webhook settings"
    )
