"""`glue link`, `glue unlink` and `glue links list|show`: a tenant's linked connectors.

Values never reach the terminal: prompts for secret settings do not echo, listings show
secret names with ``****``, and ``links show --reveal NAME`` (the one way to see a value) is
recorded in the store's audit table and logged.
"""

from __future__ import annotations

from typing import Any

import click

from glue_runtime import plan
from glue_runtime.cli import _echo_json, _note, main
from glue_runtime.cli.tenants import confirm
from glue_runtime.errors import UsageError
from glue_runtime.workspace import links as wlinks
from glue_runtime.workspace import oauth
from glue_runtime.workspace.linksettings import LinkForm, Setting, link_form
from glue_runtime.workspace.open import open_workspace

_CLICK_TYPES: dict[str, Any] = {"integer": int, "number": float, "boolean": bool}


def _ask(setting: Setting) -> Any:
    """Prompt for one setting; a secret one without echo. EOF is a usage error."""
    label = setting.name + (f" ({setting.description})" if setting.description else "")
    try:
        value = click.prompt(
            label,
            hide_input=setting.secret,
            type=_CLICK_TYPES.get(setting.type, str),
            default=None if setting.required else "",
            show_default=False,
        )
    except click.exceptions.Abort:
        raise UsageError(
            f"no value for setting '{setting.name}' (no input to read)",
            hint="give the settings as a JSON object with --config FILE",
        ) from None
    return value


def _settings(form: LinkForm, config_file: str | None) -> dict[str, Any]:
    """The settings from --config FILE, else asked one by one."""
    if config_file:
        return plan.load_config(config_file, "link settings")
    values = {}
    for setting in form.settings:
        value = _ask(setting)
        if value != "" or setting.required:
            values[setting.name] = value
    return values


def _read_pasted() -> str:
    """The redirect URL the user pastes back (--no-browser)."""
    return str(click.prompt("Redirect URL", prompt_suffix=": ", show_default=False))


@main.command("link")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose link this is.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="The tenant's settings as a JSON object (instead of prompts).",
)
@click.option("--no-check", is_flag=True, help="Save without running the tap's discovery.")
@click.option("--no-browser", is_flag=True, help="OAuth: print the URL, paste the redirect back.")
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="OAuth: seconds to wait."
)
def link_command(
    flow: str,
    connector: str,
    tenant: str,
    config_file: str | None,
    no_check: bool,
    no_browser: bool,
    timeout: float,
) -> None:
    """Link a tenant to a connector of a flow: its API key settings (checked by running the
    tap's discovery before saving) or OAuth2 authorisation."""
    with open_workspace() as opened:
        supported = wlinks.supported_connector(opened, flow, connector)
        opened.store.tenant(tenant)
        wlinks.needs_link_or_fail(supported, flow)
        if supported.auth == "oauth2":
            if config_file:
                raise UsageError(
                    f"connector '{connector}' of flow '{flow}' links with OAuth2: --config "
                    "does not apply",
                    hint="the tenant authorises it in the browser (or --no-browser)",
                )
            link = oauth.link_interactively(
                opened,
                flow,
                tenant,
                connector,
                open_browser=not no_browser,
                timeout_s=timeout,
                say=click.echo,
                read_pasted=_read_pasted if no_browser else None,
            )
            click.echo(
                f"linked tenant '{link.tenant}' to {link.flow}/{link.connector} "
                f"(oauth2): status {link.status}"
            )
            return
        again = opened.store.find_link(flow, tenant, connector) is not None
        values = _settings(link_form(opened.workspace, supported), config_file)
        if not no_check:
            _note(f"checking the settings: running the discovery of {connector}...")
        link = wlinks.link_with_settings(
            opened, flow, tenant, connector, values, check=not no_check
        )
    checked = "unchecked" if no_check else "checked"
    click.echo(
        f"{'relinked' if again else 'linked'} tenant '{link.tenant}' to {link.flow}/"
        f"{link.connector} ({link.auth}, {checked}): status {link.status}"
    )


@main.command("unlink")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose link this is.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--force", is_flag=True, help="Even while a job of the link is running.")
def unlink_command(flow: str, connector: str, tenant: str, yes: bool, force: bool) -> None:
    """Remove a tenant's link: revoke its OAuth tokens where the connector names a revocation
    URL, delete its credentials, catalog, field map override and state."""
    with open_workspace() as opened:
        opened.store.tenant(tenant)
        opened.store.link(flow, tenant, connector)  # a named error before asking
        if not confirm(f"unlink {flow}/{connector} of tenant '{tenant}'?", yes):
            raise UsageError(f"link {flow}/{connector} of tenant '{tenant}' kept: not confirmed")
        done = wlinks.unlink(opened, flow, tenant, connector, force=force)
    click.echo(f"unlinked {flow}/{connector} of tenant '{tenant}'")
    for table, count in done.removed.items():
        if count and table != "links":
            click.echo(f"  {table}: {count}")
    rev = done.revocation
    if rev.ok:
        click.echo("  revoked its tokens at the provider")
    elif rev.attempted:
        _note(
            f"warning: could not revoke its tokens ({rev.error}); they are deleted here, "
            "revoke them at the provider",
            "warning",
        )


@main.group(name="links")
def links_group() -> None:
    """Tenants' linked connectors (secrets always shown as ****)."""


@links_group.command("list")
@click.option("--tenant", help="Only this tenant's links.")
@click.option("--flow", help="Only this flow's links.")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def links_list(tenant: str | None, flow: str | None, as_json: bool) -> None:
    """List links: flow, tenant, connector, direction, auth, status, updated, secret names."""
    with open_workspace() as opened:
        if tenant is not None:
            opened.store.tenant(tenant)
        if flow is not None and flow not in opened.workspace.flows:
            opened.workspace.flow(flow)  # a named error with close matches
        rows = [
            wlinks.describe_link(opened, lk) for lk in opened.store.links(tenant=tenant, flow=flow)
        ]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        _note("no links")
    for r in rows:
        secrets = r["secrets"]
        shown = (
            ", ".join(f"{n}={v}" for n, v in secrets.items())
            if isinstance(secrets, dict)
            else secrets
        )
        click.echo(
            f"{r['flow']:<16} {r['tenant']:<20} {r['connector']:<16} {r['direction']:<5} "
            f"{r['auth']:<7} {r['status'] if not r['paused'] else 'paused':<12} {r['updated']}  "
            f"{shown}"
        )


@links_group.command("show")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose link this is.")
@click.option("--reveal", metavar="NAME", help="Print this one secret's value (audited).")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def links_show(flow: str, connector: str, tenant: str, reveal: str | None, as_json: bool) -> None:
    """Show one link (secret values as ****; --reveal NAME prints one, and records it)."""
    with open_workspace() as opened:
        opened.store.tenant(tenant)
        if reveal:
            click.echo(wlinks.reveal(opened, flow, tenant, connector, reveal))
            return
        shown = wlinks.describe_link(
            opened, opened.store.link(flow, tenant, connector), detail=True
        )
    if as_json:
        _echo_json(shown)
        return
    for key, value in shown.items():
        if isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{key}: {value if value is not None else '-'}")


@links_group.command("pause")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose link this is.")
@click.option("--reason", default="", help="Why (shown with the link and in link.paused).")
def links_pause(flow: str, connector: str, tenant: str, reason: str) -> None:
    """Pause a link: it starts no job (API, trigger, schedule) until resumed."""
    from glue_runtime.workspace.linkpause import pause_link

    with open_workspace() as opened:
        opened.store.tenant(tenant)
        health = pause_link(opened.store, flow, tenant, connector, reason)
    click.echo(f"paused {flow}/{connector} of tenant '{tenant}' ({health.paused_reason})")


@links_group.command("resume")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose link this is.")
def links_resume(flow: str, connector: str, tenant: str) -> None:
    """Resume a paused link (and clear its count of consecutive failed jobs)."""
    from glue_runtime.workspace.linkpause import resume_link

    with open_workspace() as opened:
        opened.store.tenant(tenant)
        resume_link(opened.store, flow, tenant, connector)
    click.echo(f"resumed {flow}/{connector} of tenant '{tenant}'")
