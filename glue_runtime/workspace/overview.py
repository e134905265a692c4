"""What `glue flows list|show` report: each flow's supported connectors and targets, and which
tenants linked what, with the state of each link.

A link's state, in the words users read: ``needs re-authorisation`` (the store marked it:
a refresh was rejected), ``never run`` (no bookmarks under its state key
``flow/tenant/connector``), else ``ok`` with the time its state was last committed. App config
is shown with secrets masked: the settings the connector's schema marks secret, the flow's
``secret_settings``, secret-looking names, passwords inside URLs, client secrets, and any value
glue.yml took from the environment.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from glue_runtime.connectors import Connector, Kind
from glue_runtime.errors import GlueError
from glue_runtime.secrets import MASK, Redactor, redact_config
from glue_runtime.workspace.appsecrets import CLIENT_SECRET, app_secret_names
from glue_runtime.workspace.available import find_connector
from glue_runtime.workspace.dbstate import workspace_state_key
from glue_runtime.workspace.model import SupportedConnector, Workspace, WorkspaceFlow
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import LINK_NEEDS_REAUTH, Link, Store, states

NEEDS_REAUTH = "needs re-authorisation"
NEVER_RUN = "never run"
OK = "ok"
NOT_IN_FLOW = "not in glue.yml"


@dataclass(frozen=True)
class LinkState:
    """One tenant's link to a connector of the flow, as `flows show` reports it."""

    tenant: str
    connector: str
    direction: str
    auth: str
    state: str  # ok | needs re-authorisation | never run | not in glue.yml
    last_run: float | None  # when the link's state was last committed
    last_error: str | None


def flows_summary(opened: Opened) -> list[dict[str, Any]]:
    """Every flow with its sources and targets, their auth kind and how many tenants linked each."""
    workspace = opened.workspace
    linked = Counter((lk.flow, lk.connector) for lk in opened.store.links())
    return [
        {
            "name": flow.name,
            "description": flow.description,
            "sources": [_brief(sc, linked[(flow.name, sc.id)]) for sc in flow.sources.values()],
            "targets": [_brief(sc, linked[(flow.name, sc.id)]) for sc in flow.targets.values()],
        }
        for flow in workspace.flows.values()
    ]


def _brief(sc: SupportedConnector, tenants: int) -> dict[str, Any]:
    return {
        "id": sc.id,
        "connector": sc.connector,
        "auth": sc.auth,
        "needs_link": sc.needs_link,
        "tenants_linked": tenants,
    }


def link_states(flow: WorkspaceFlow, store: Store) -> list[LinkState]:
    """The flow's links, each with its state (one query for the links, one for their state)."""
    found = store.links(flow=flow.name)
    prefix = f"{flow.name}/"  # every workspace_state_key of the flow starts so
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(states.c.key, states.c.updated_at).where(
                states.c.key.startswith(prefix, autoescape=True)
            )
        ).all()
    updated = {r.key: r.updated_at for r in rows}
    known = {*flow.sources, *flow.targets}
    return [
        _state(lk, updated.get(workspace_state_key(lk.flow, lk.tenant, lk.connector)), known)
        for lk in found
    ]


def _state(link: Link, last_run: float | None, known: set[str]) -> LinkState:
    if link.connector not in known:
        word = NOT_IN_FLOW
    elif link.status == LINK_NEEDS_REAUTH:
        word = NEEDS_REAUTH
    elif last_run is None:
        word = NEVER_RUN
    else:
        word = OK
    return LinkState(
        tenant=link.tenant,
        connector=link.connector,
        direction=link.direction,
        auth=link.auth,
        state=word,
        last_run=last_run,
        last_error=link.last_error if link.status == LINK_NEEDS_REAUTH else None,
    )


def flow_detail(opened: Opened, name: str) -> dict[str, Any]:
    """Everything `glue flows show` prints about one flow (secrets masked)."""
    workspace = opened.workspace
    flow = workspace.flow(name)
    masker = Redactor(workspace.env_values)
    stored = {(c, n) for _, c, n in app_secret_names(opened, flow.name)}

    def shown(sc: SupportedConnector, kind: Kind) -> dict[str, Any]:
        return _connector(workspace, sc, kind, masker, (sc.id, CLIENT_SECRET) in stored)

    return {
        "name": flow.name,
        "description": flow.description,
        "sources": [shown(sc, "tap") for sc in flow.sources.values()],
        "targets": [shown(sc, "target") for sc in flow.targets.values()],
        "field_map": _rel(flow.field_map, workspace.root),
        "etl": _rel(flow.etl, workspace.root),
        "etl_mode": flow.etl_mode,
        "etl_format": flow.etl_format,
        "mappers": [_mask(m, (), masker) for m in flow.mappers],
        "timeouts": flow.timeouts,
        "links": [asdict(s) for s in link_states(flow, opened.store)],
    }


def secret_names(sc: SupportedConnector, found: Connector | None) -> set[str]:
    """Settings to mask in ``sc``'s app config: the flow's ``secret_settings``, client
    secrets, and what its connector's settings schema marks secret (when it is here)."""
    names = {*sc.secret_settings, "client_secret"}
    if found is not None:
        # No --about (or it hung): the names glue.yml gives still count.
        with contextlib.suppress(GlueError):
            names |= found.secret_settings()
    return names


def _connector(
    workspace: Workspace,
    sc: SupportedConnector,
    kind: Kind,
    masker: Redactor,
    secret_stored: bool,
) -> dict[str, Any]:
    found = find_connector(workspace, sc.connector, kind)
    oauth = None
    if sc.oauth is not None:
        oauth = _mask(asdict(sc.oauth), (), masker)
        oauth["client_secret"] = MASK if sc.oauth.client_secret or secret_stored else None
        # glue.yml's ${VAR} wins over the store's app secret (appsecrets.resolve_oauth_app)
        oauth["client_secret_from"] = (
            "environment" if sc.oauth.client_secret else "store" if secret_stored else None
        )
    return {
        "id": sc.id,
        "connector": sc.connector,
        "direction": sc.direction,
        "auth": sc.auth,
        "available": found is not None,  # can this machine run it
        "config": _mask(sc.config, secret_names(sc, found), masker),
        "settings": list(sc.settings),
        "secret_settings": list(sc.secret_settings),
        "oauth": oauth,
        "field_map": _rel(sc.field_map, workspace.root),
        "catalog": _rel(sc.catalog, workspace.root),
    }


def _mask(value: dict[str, Any], names: Iterable[str], masker: Redactor) -> Any:
    return _strings(redact_config(value, names), masker)


def _strings(node: Any, masker: Redactor) -> Any:
    if isinstance(node, dict):
        return {k: _strings(v, masker) for k, v in node.items()}
    if isinstance(node, list):
        return [_strings(v, masker) for v in node]
    if isinstance(node, str) and masker:
        return masker.redact(node)
    return node


def _rel(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
