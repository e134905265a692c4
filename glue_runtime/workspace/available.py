"""What `glue connectors available` lists: the connectors that can be added to a flow.

Those installed here (entry points and ``tap-*``/``target-*`` on PATH, as
:func:`glue_runtime.connectors.available` finds them) and those the workspace installed into
its own virtualenvs (glue.yml's ``connectors:``), each with its kind, the auth kind its
settings suggest and its settings (required, secret). Settings come from the connector's
``--about``, which the --about cache (``caches.py``) keeps per connector version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from glue_runtime import connectors
from glue_runtime.connectors import Connector, Kind
from glue_runtime.errors import GlueError
from glue_runtime.secrets import secret_paths_from_schema
from glue_runtime.workspace.installs import resolve_connector, workspace_connectors
from glue_runtime.workspace.model import AuthKind, Workspace

# Settings that mean the connector signs in with OAuth2, or with a key of its own.
_OAUTH_NAMES = re.compile(r"(^|_)(refresh_token|oauth\w*)$|^client_secret$", re.IGNORECASE)
_KEY_NAMES = re.compile(
    r"(api[_-]?key|apikey|access[_-]?key|token|password|passwd|secret|private[_-]?key)",
    re.IGNORECASE,
)


def setting_names(schema: Mapping[str, Any] | None) -> Iterator[str]:
    """Every setting name in a settings schema, nested ones included."""
    if not isinstance(schema, Mapping):
        return
    for name, prop in (schema.get("properties") or {}).items():
        yield str(name)
        if isinstance(prop, Mapping):
            yield from setting_names(prop)
            yield from setting_names(prop.get("items"))


def guess_auth(schema: Mapping[str, Any] | None) -> AuthKind:
    """oauth2 for client id/secret or refresh-token settings, api_key for another secret
    setting (marked secret, or named like a key, token or password), else none."""
    names = set(setting_names(schema))
    if any(_OAUTH_NAMES.search(n) for n in names) or {"client_id", "client_secret"} <= names:
        return "oauth2"
    if secret_paths_from_schema(schema) or any(_KEY_NAMES.search(n) for n in names):
        return "api_key"
    return "none"


def settings_of(schema: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The top-level settings: name, type, required, secret, first line of the description."""
    if not isinstance(schema, Mapping):
        return []
    required = set(schema.get("required") or ())
    secret = secret_paths_from_schema(schema)
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        out.append(
            {
                "name": name,
                "type": prop.get("type"),
                "required": name in required,
                "secret": name in secret,
                "description": (str(prop.get("description") or "").splitlines() or [""])[0],
            }
        )
    return out


def find_connector(workspace: Workspace, name: str, kind: Kind) -> Connector | None:
    """The connector ``name`` of ``kind`` as a run would find it (the workspace's venvs
    first, see :mod:`~glue_runtime.workspace.installs`); None when this machine has none."""
    try:
        return connectors.resolve(resolve_connector(workspace, name, kind), kind)
    except GlueError:
        return None


def describe_available(connector: Connector) -> dict[str, Any]:
    """One line of `glue connectors available`; a connector whose --about fails is listed
    with no settings and the reason."""
    problem = None
    try:
        about = connector.about()
    except GlueError as exc:  # its --about hung
        about, problem = None, exc.message
    if about is None and problem is None:
        problem = "it gives no --about information (settings unknown)"
    settings = (about or {}).get("settings")
    schema = settings if isinstance(settings, Mapping) else None
    return {
        "name": connector.label,
        "kind": connector.kind,
        "source": connector.source,
        "location": connector.location,
        "version": connector.version,
        "auth": guess_auth(schema),
        "settings": settings_of(schema),
        "problem": problem,
    }


def supported_in(workspace: Workspace, connector: Connector) -> list[str]:
    """Where a flow already supports ``connector``: ``flow/id`` for each source (a tap) or
    target (a target) that names it."""
    names = {connector.name, connector.label, connector.name.removeprefix(f"{connector.kind}-")}
    return [
        f"{flow.name}/{sc.id}"
        for flow in workspace.flows.values()
        for sc in (flow.sources if connector.kind == "tap" else flow.targets).values()
        if sc.connector in names
    ]


def available_connectors(workspace: Workspace | None) -> list[dict[str, Any]]:
    """Everything that can be added to a flow (the workspace's own installs first), with the
    flows that already support each."""
    found = workspace_connectors(workspace) if workspace is not None else []
    found += connectors.available()
    return [
        {**describe_available(c), "supported_in": supported_in(workspace, c) if workspace else []}
        for c in found
    ]
