"""App secrets: the builder's own secrets for a supported connector (an OAuth client secret,
an app-level API key) that must not sit in glue.yml, kept encrypted in the store.

Each value is sealed for the row ``app:<flow>:<connector>:<name>`` (its associated data), so a
value copied to another connector or name does not decrypt. glue.yml may still give an OAuth
client secret through the environment (``client_secret: ${SHOP_CLIENT_SECRET}``); that wins
over the stored one, so a deployment can keep secrets in its own secret manager.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from glue_runtime.errors import ConfigError, UsageError
from glue_runtime.workspace.model import OAuthApp, SupportedConnector
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import app_secrets

CLIENT_SECRET = "client_secret"


def app_secret_row(flow: str, connector: str, name: str) -> str:
    """The row identity an app secret is sealed for (its associated data)."""
    return f"app:{flow}:{connector}:{name}"


def _where(flow: str, connector: str, name: str) -> list[sa.ColumnElement[bool]]:
    return [
        app_secrets.c.flow == flow,
        app_secrets.c.connector == connector,
        app_secrets.c.name == name,
    ]


def app_secret(opened: Opened, flow: str, connector: str, name: str) -> str | None:
    """The app secret ``name`` of a flow's supported connector, decrypted; None when unset."""
    with opened.store.engine.connect() as conn:
        sealed = conn.execute(
            sa.select(app_secrets.c.value).where(*_where(flow, connector, name))
        ).scalar()
    if sealed is None:
        return None
    value = opened.store.unseal(str(sealed), app_secret_row(flow, connector, name)).get("value")
    return str(value) if value is not None else None


def set_app_secret(opened: Opened, flow: str, connector: str, name: str, value: str) -> bool:
    """Keep ``value`` as the app secret ``name`` (encrypted); True when it replaced one.

    The flow and connector must exist in glue.yml (a named error with close matches if not),
    so a typo does not leave a secret nobody reads.
    """
    opened.workspace.flow(flow).connector(connector)
    if not name.strip():
        raise UsageError("an app secret needs a name", hint="for an OAuth app: client_secret")
    if not value:
        raise UsageError(
            f"the value of app secret '{name}' is empty; nothing was stored",
            hint=f"to remove it: glue secrets unset {flow} {connector} {name}",
        )
    sealed = opened.store.seal({"value": value}, app_secret_row(flow, connector, name))
    with opened.store.write() as conn:
        done = conn.execute(
            sa.update(app_secrets).where(*_where(flow, connector, name)).values(value=sealed)
        )
        replaced = done.rowcount == 1
        if not replaced:
            conn.execute(
                sa.insert(app_secrets).values(
                    flow=flow, connector=connector, name=name, value=sealed
                )
            )
    opened.store.record("app-secret-set", f"{flow}/{connector}/{name}")
    return replaced


def unset_app_secret(opened: Opened, flow: str, connector: str, name: str) -> None:
    """Remove an app secret; a named error (with the names that exist) when there is none."""
    with opened.store.write() as conn:
        done = conn.execute(sa.delete(app_secrets).where(*_where(flow, connector, name)))
    if done.rowcount == 0:
        have = [n for f, c, n in app_secret_names(opened) if (f, c) == (flow, connector)]
        raise unknown(
            "app secret",
            name,
            have,
            where=f"flow '{flow}' connector '{connector}'",
            hint="`glue secrets list` shows them all",
        )
    opened.store.record("app-secret-unset", f"{flow}/{connector}/{name}")


def app_secret_names(opened: Opened, flow: str | None = None) -> list[tuple[str, str, str]]:
    """(flow, connector, name) of every app secret (of one flow); never the values."""
    q = sa.select(app_secrets.c.flow, app_secrets.c.connector, app_secrets.c.name).order_by(
        app_secrets.c.flow, app_secrets.c.connector, app_secrets.c.name
    )
    if flow is not None:
        q = q.where(app_secrets.c.flow == flow)
    with opened.store.engine.connect() as conn:
        return [(r.flow, r.connector, r.name) for r in conn.execute(q).all()]


def resolve_oauth_app(opened: Opened, flow: str, supported: SupportedConnector) -> OAuthApp:
    """The connector's OAuth app with its client secret filled in: glue.yml's (through
    ``${VAR}``) when it gives one, else the app secret ``client_secret`` from the store.

    ConfigError when the connector has no oauth block, or the app has no client secret,
    saying both ways to give one.
    """
    app = supported.oauth
    if app is None:
        raise ConfigError(
            f"connector '{supported.id}' of flow '{flow}' has no oauth: block in glue.yml",
            hint="add oauth: {token_url, client_id, ...} under it, or set its auth to api_key",
        )
    if app.client_secret:
        return app
    secret = app_secret(opened, flow, supported.id, CLIENT_SECRET)
    if not secret:
        raise ConfigError(
            f"the OAuth app of connector '{supported.id}' in flow '{flow}' has no client secret",
            hint=(
                f"store it with `glue secrets set {flow} {supported.id} {CLIENT_SECRET}` "
                "(it prompts without echo), or give it in glue.yml from the environment: "
                "client_secret: ${YOUR_VAR}"
            ),
        )
    return dataclasses.replace(app, client_secret=secret)
