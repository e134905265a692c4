"""What a workspace run takes from the other parts of the workspace layer, one function each:
a link's fresh credentials, the state store, a connector's executable, a tenant's overrides.

Each is the single place to change when the part it stands for changes (token refresh, the
store-backed state, managed virtualenvs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from glue_runtime.connectors import Kind
from glue_runtime.errors import NeedsReauthorisation
from glue_runtime.statestore import StateStore
from glue_runtime.workspace import installs, tokens
from glue_runtime.workspace.dbstate import DbStateStore, workspace_state_key
from glue_runtime.workspace.model import Workspace
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import LINK_NEEDS_REAUTH, Link

state_key = workspace_state_key  # flow/tenant/connector: one per linked connector


def fresh_credentials(opened: Opened, link: Link) -> tuple[int, dict[str, Any]]:
    """The link's secrets, ready to use (an OAuth access token refreshed first when it expires
    within the workspace's margin), and the credential version they belong to: the
    compare-and-swap base for a tap that writes its config back.

    tokens.fresh_credentials commits a refreshed pair before it returns, so the store holds
    it (or a newer pair another process committed since: then that one is used).
    """
    if link.status == LINK_NEEDS_REAUTH:
        raise NeedsReauthorisation(
            f"link {link.flow}/{link.connector} of tenant '{link.tenant}' needs "
            "re-authorisation" + (f" ({link.last_error})" if link.last_error else ""),
            hint=f"link it again: glue link {link.flow} {link.connector} --tenant {link.tenant}",
        )
    fresh = tokens.fresh_credentials(opened, link)
    version, stored = opened.store.credentials(link)
    return version, stored or fresh


def state_store(opened: Opened) -> StateStore:
    """Where workspace runs keep bookmarks: the store's ``states`` table, leased per key."""
    return DbStateStore(opened.store)


def resolve_connector(workspace: Workspace, name: str, kind: Kind) -> str:
    """What glue_runtime's connector look-up accepts for a supported connector's ``connector``:
    the executable in the workspace's venv when it installed it; a relative path is the
    workspace folder's."""
    if "/" in name and not os.path.isabs(name):
        return str((workspace.root / name).resolve())
    return installs.resolve_connector(workspace, name, kind)


def tenant_overrides(opened: Opened, tenant: str, connector: str) -> Mapping[str, Any]:
    """The tenant's own config values for a connector, merged last: the tenant's metadata
    ``overrides: {CONNECTOR_ID: {...}}`` when it has one."""
    meta = opened.store.tenant(tenant).metadata
    overrides = meta.get("overrides") if isinstance(meta, dict) else None
    found = overrides.get(connector) if isinstance(overrides, dict) else None
    return found if isinstance(found, dict) else {}
