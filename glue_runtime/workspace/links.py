"""Links: a tenant's connection to a supported connector of a flow, made, shown and removed.

``link_with_settings`` is the API-key path (and a source with no auth that still needs the
tenant's settings): check the settings, run the tap's discovery with them, then save them,
secret ones encrypted. OAuth links are made by ``glue_runtime.workspace.oauth``. ``unlink``
revokes an OAuth link's tokens at the provider (``oauth.revoke_tokens``, when the connector
names a revocation URL),
then deletes the link with its catalog, override, state and leases. ``reveal`` is the one
way a secret leaves the store in clear; it is written to the audit table and logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from glue_runtime.errors import ConfigError, SecretKeyError, UsageError
from glue_runtime.protocol import dumps_exact
from glue_runtime.secrets import redact_config
from glue_runtime.workspace.appsecrets import resolve_oauth_app
from glue_runtime.workspace.linkconfig import link_config
from glue_runtime.workspace.linksettings import check_given, check_link, link_form
from glue_runtime.workspace.model import SupportedConnector
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.oauth import revoke_tokens
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.rows import delete_link_rows, forget_catalog, held_leases, state_key
from glue_runtime.workspace.store import Link

log = logging.getLogger("glue_runtime.workspace.links")

MASK = "****"


def link_name(link: Link) -> str:
    """``flow/tenant/connector``: how messages and the audit table name a link."""
    return f"{link.flow}/{link.tenant}/{link.connector}"


def supported_connector(opened: Opened, flow: str, connector: str) -> SupportedConnector:
    """The flow's supported connector (named errors with close matches for either name)."""
    return opened.workspace.flow(flow).connector(connector)


def needs_link_or_fail(supported: SupportedConnector, flow: str) -> None:
    """UsageError for a target that writes with the app's config alone (nothing to link)."""
    if not supported.needs_link:
        raise UsageError(
            f"target '{supported.id}' of flow '{flow}' needs no link: it has auth none and "
            "writes with the flow's config for every tenant",
            hint="only sources, and targets with auth api_key or oauth2, are linked per tenant",
        )


def link_with_settings(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str,
    settings: Mapping[str, Any],
    *,
    check: bool = True,
) -> Link:
    """Link ``tenant`` to ``connector`` of ``flow`` with ``settings`` (API key style).

    Checks the names given, then (unless ``check`` is False) runs the tap's discovery with
    the merged config; nothing is saved when either fails. Re-linking replaces the link's
    settings and credentials and clears "needs re-authorisation".
    """
    supported = supported_connector(opened, flow, connector)
    opened.store.tenant(tenant)
    needs_link_or_fail(supported, flow)
    if supported.auth == "oauth2":
        raise UsageError(
            f"connector '{connector}' of flow '{flow}' links with OAuth2, not with settings",
            hint=f"run `glue link {flow} {connector} --tenant {tenant}` to authorise it",
        )
    where = f"link of tenant '{tenant}' to {flow}/{connector}"
    form = link_form(opened.workspace, supported)
    check_given(form, settings, where)
    plain, secrets = form.split(settings)
    catalog = None
    if check:
        config = link_config(
            supported.config,
            flow=flow,
            tenant=tenant,
            connector=connector,
            settings=plain,
            secrets=secrets,
        )
        catalog = check_link(opened.workspace, opened.workspace.flow(flow), form, config, where)
    link = opened.store.save_link(
        flow=flow,
        tenant=tenant,
        connector=connector,
        direction=supported.direction,
        auth=supported.auth,
        settings=plain,
        secrets=secrets or None,
    )
    if catalog is not None:  # discovered with this tenant's credentials: the run starts from it
        opened.store.save_catalog(flow, tenant, connector, catalog)
    else:  # one discovered with earlier credentials may not fit these
        forget_catalog(opened.store, flow, tenant, connector)
    opened.store.record("link", link_name(link))
    return link


# -- revocation and unlinking ----------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    """Whether an OAuth link's tokens were revoked at the provider (``attempted`` is False
    when there was nothing to revoke or the connector names no revocation URL)."""

    link: Link
    attempted: bool = False
    ok: bool = False
    error: str | None = None


def revoke_link(opened: Opened, link: Link) -> Revocation:
    """Revoke an OAuth link's tokens where its connector names a revocation URL. A failure is
    returned (redacted), not raised: the link is removed either way."""
    if link.auth != "oauth2" or not link.has_secrets:
        return Revocation(link)
    try:
        supported = supported_connector(opened, link.flow, link.connector)
    except ConfigError:  # the flow or connector left glue.yml: no app to revoke with
        return Revocation(link, attempted=True, error="its connector is no longer in glue.yml")
    if supported.oauth is None or not supported.oauth.revoke_url:
        return Revocation(link)
    _, secrets = opened.store.credentials(link)
    try:
        app = resolve_oauth_app(opened, link.flow, supported)
    except ConfigError as exc:  # no client secret to authenticate the revocation with
        return Revocation(link, attempted=True, error=exc.message)
    if not revoke_tokens(app, secrets):  # it logged why, without the tokens
        return Revocation(link, attempted=True, error="the provider refused or was unreachable")
    return Revocation(link, attempted=True, ok=True)


@dataclass
class Unlinked:
    """What unlinking did: the rows deleted per table and the revocation."""

    link: Link
    revocation: Revocation
    removed: dict[str, int] = field(default_factory=dict)


def unlink(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str,
    *,
    revoke: bool = True,
    force: bool = False,
    now: Callable[[], float] = time.time,
) -> Unlinked:
    """Remove the tenant's link: revoke its OAuth tokens (see :func:`revoke_link`), then delete
    the link, its credentials, catalog, field map override, state and leases. Works for a
    link whose flow or connector has since left glue.yml. Refused while a job of the link
    holds its lease, unless ``force``."""
    opened.store.tenant(tenant)
    link = opened.store.link(flow, tenant, connector)
    if not force:
        held = held_leases(opened.store, tenant, state_key(flow, tenant, connector), now())
        if held:
            raise UsageError(
                f"link {link_name(link)} has a job running: its lease on {held[0]} is held",
                hint="wait for the job to end (or stop it); --force unlinks it anyway",
            )
    revocation = revoke_link(opened, link) if revoke else Revocation(link)
    removed = delete_link_rows(opened.store, link)
    opened.store.record("unlink", link_name(link))
    return Unlinked(link, revocation, removed)


# -- showing links ---------------------------------------------------------------------------


def secret_names(opened: Opened, link: Link) -> list[str] | None:
    """The names of the link's secrets (never their values); None without the secret key."""
    if not link.has_secrets:
        return []
    try:
        _, secrets = opened.store.credentials(link)
    except SecretKeyError:
        if opened.keyring is None:
            return None
        raise  # a wrong key is an error, not a blank
    return sorted(secrets)


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def describe_link(opened: Opened, link: Link, *, detail: bool = False) -> dict[str, Any]:
    """A display dict of the link: secret names with ``****`` for values, never a value."""
    names = secret_names(opened, link)
    shown: dict[str, Any] = {
        "flow": link.flow,
        "tenant": link.tenant,
        "connector": link.connector,
        "direction": link.direction,
        "auth": link.auth,
        "status": link.status,
        "updated": _when(link.updated_at),
        "secrets": {n: MASK for n in names} if names is not None else "(no secret key)",
        "last_error": link.last_error,
        "paused": _when(link.paused_at),
    }
    if detail:
        shown |= {
            "settings": redact_config(link.settings),
            "created": _when(link.created_at),
            "credential_version": link.credential_version,
            "expires_at": _when(link.expires_at),
            "paused_reason": link.paused_reason,
            "failures": link.failures,
        }
    return shown


def reveal(opened: Opened, flow: str, tenant: str, connector: str, name: str) -> str:
    """One secret of the link, in clear: recorded in the audit table and logged (without the
    value) before it is returned."""
    opened.store.tenant(tenant)
    link = opened.store.link(flow, tenant, connector)
    _, secrets = opened.store.credentials(link)
    if name not in secrets:
        raise unknown("secret", name, secrets, where=f"link {link_name(link)}")
    value = secrets[name]
    opened.store.record("reveal", f"{link_name(link)}:{name}")
    log.warning(
        "secret '%s' of link %s revealed on request (recorded in the store's audit table)",
        name,
        link_name(link),
    )
    return value if isinstance(value, str) else dumps_exact(value).decode()
