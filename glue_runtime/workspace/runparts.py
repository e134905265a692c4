"""What a workspace run takes from the other parts of the workspace layer, one function each:
a link's fresh credentials, the state store, a connector's executable, a tenant's overrides.

Each is the single place to change when the part it stands for changes (token refresh, the
store-backed state, managed virtualenvs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glue_runtime.errors import NeedsReauthorisation, StateError
from glue_runtime.state import FileStateStore
from glue_runtime.statestore import StateStore
from glue_runtime.workspace.model import Workspace
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import LINK_NEEDS_REAUTH, Link


def state_key(flow: str, tenant: str, connector: str) -> str:
    """A workspace run's state key: one per (flow, tenant, connector)."""
    return f"{flow}/{tenant}/{connector}"


def fresh_credentials(opened: Opened, link: Link) -> tuple[int, dict[str, Any]]:
    """The link's secrets, ready to use, and the credential version they belong to (the
    compare-and-swap base for a tap that writes its config back)."""
    if link.status == LINK_NEEDS_REAUTH:
        raise NeedsReauthorisation(
            f"link {link.flow}/{link.connector} of tenant '{link.tenant}' needs "
            "re-authorisation" + (f" ({link.last_error})" if link.last_error else ""),
            hint=f"link it again: glue link {link.flow} {link.connector} --tenant {link.tenant}",
        )
    return opened.store.credentials(link)


_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$")


class _WorkspaceFileStates(FileStateStore):
    """The file store with ``flow/tenant/connector`` keys (``/`` spelled %2F in file names)."""

    def path_for(self, key: str) -> Path:
        parts = key.split("/")
        if not all(_PART.match(p) for p in parts):
            raise StateError(
                f"invalid state key {key!r}",
                hint="flow names and connector ids use letters, digits and . _ - @ :",
            )
        name = key.replace(":", "%3A").replace("/", "%2F")
        return self.directory / f"{name}.json"

    def keys(self) -> list[str]:
        keys = super().keys()
        return [k.replace("%2F", "/") for k in keys]


def state_store(opened: Opened) -> StateStore:
    """Where workspace runs keep bookmarks."""
    return _WorkspaceFileStates(opened.workspace.data_dir / "state")


def resolve_connector(workspace: Workspace, name: str) -> str:
    """What glue_runtime's connector look-up accepts for a supported connector's ``connector``:
    a relative path is the workspace folder's."""
    if "/" in name and not os.path.isabs(name):
        return str((workspace.root / name).resolve())
    return name


def tenant_overrides(opened: Opened, tenant: str, connector: str) -> Mapping[str, Any]:
    """The tenant's own config values for a connector, merged last: the tenant's metadata
    ``overrides: {CONNECTOR_ID: {...}}`` when it has one."""
    meta = opened.store.tenant(tenant).metadata
    overrides = meta.get("overrides") if isinstance(meta, dict) else None
    found = overrides.get(connector) if isinstance(overrides, dict) else None
    return found if isinstance(found, dict) else {}
