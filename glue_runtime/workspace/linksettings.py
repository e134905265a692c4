"""What a tenant gives when linking an API-key style connector, and the check before saving.

The settings asked are the supported connector's ``settings`` list (glue.yml), else the
connector's required settings (its ``--about`` settings schema, cached) minus what the app
config already sets. A setting is secret when the connector's schema marks it, when glue.yml
lists it under ``secret_settings``, or when its name says so (``api_key``, ``password``...);
secret ones are encrypted in the link's ``secrets``, the rest kept in its ``settings``.

The check runs the tap's discovery with the merged config (the one a run gets), not the
cached catalog: the point is to learn whether these credentials work. Its error is redacted
with every secret value of that config before anyone sees it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_runtime import connectors
from glue_runtime.connectors import Connector, Kind
from glue_runtime.discovery import run_discovery
from glue_runtime.errors import ConnectorError, CredentialError, UsageError
from glue_runtime.secrets import is_secret_name, secret_values
from glue_runtime.timeouts import Timeouts
from glue_runtime.workspace import installs
from glue_runtime.workspace.model import SupportedConnector, Workspace, WorkspaceFlow
from glue_runtime.workspace.names import unknown

log = logging.getLogger("glue_runtime.workspace.links")


@dataclass(frozen=True)
class Setting:
    """One setting a tenant gives when linking."""

    name: str
    secret: bool
    required: bool = True
    type: str = "string"  # the schema's type: string, integer, number, boolean, object...
    description: str = ""


@dataclass(frozen=True)
class LinkForm:
    """The settings to ask for a link, and which names (asked or not) are secret."""

    connector: Connector
    settings: tuple[Setting, ...]
    secret_names: frozenset[str]
    known: frozenset[str]  # every setting name a link may give (empty: anything goes)

    def split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``values`` as (plain settings, secrets)."""
        plain = {k: v for k, v in values.items() if not self.is_secret(k, v)}
        return plain, {k: v for k, v in values.items() if self.is_secret(k, v)}

    def is_secret(self, name: str, value: Any = None) -> bool:
        """Secret by name, or an object holding a secret (kept whole in the secrets)."""
        if name in self.secret_names or is_secret_name(name):
            return True
        return isinstance(value, Mapping) and bool(secret_values(value, self.secret_names))


def resolve_connector(workspace: Workspace, supported: SupportedConnector) -> Connector:
    """The connector a supported connector runs: one the workspace installed in a venv of its
    own, else a registered connector or executable; a relative path is from the workspace."""
    kind: Kind = "tap" if supported.direction == "read" else "target"
    name = supported.connector
    if os.sep in name or name.startswith("."):
        name = str((workspace.root / Path(name).expanduser()).resolve())
    else:
        name = installs.resolve_connector(workspace, name, kind)
    return connectors.resolve(name, kind)


def _type_of(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def link_form(workspace: Workspace, supported: SupportedConnector) -> LinkForm:
    """What to ask a tenant linking ``supported`` (see the module docstring)."""
    connector = resolve_connector(workspace, supported)
    schema = connector.settings_schema or {}
    props: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    secret = frozenset(connector.secret_settings() | set(supported.secret_settings))
    names = list(supported.settings) or [n for n in props if n in required]
    asked = tuple(
        Setting(
            name=n,
            secret=n in secret or is_secret_name(n),
            required=n in required or n not in props,
            type=_type_of(props.get(n) or {}),
            description=str((props.get(n) or {}).get("description") or "").split("\n")[0],
        )
        for n in names
        if supported.settings or n not in supported.config
    )
    return LinkForm(connector, asked, secret, frozenset(names) | frozenset(props))


def check_given(form: LinkForm, values: Mapping[str, Any], where: str) -> None:
    """UsageError for a setting the link may not give (with close matches) or a missing one."""
    for name in values:
        if form.known and name not in form.known:
            raise unknown(
                "setting",
                name,
                form.known,
                where=where,
                hint="the link's settings are glue.yml's `settings:` list or the connector's",
            )
    missing = [s.name for s in form.settings if s.required and s.name not in values]
    if missing:
        raise UsageError(
            f"{where}: missing setting{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            hint="give them in the --config FILE (a JSON object) or answer the prompts",
        )


def check_link(
    workspace: Workspace,
    flow: WorkspaceFlow,
    form: LinkForm,
    config: dict[str, Any],
    where: str,
) -> dict[str, Any] | None:
    """Run the tap's discovery with the link's merged config: its catalog, or CredentialError
    saying what failed (redacted). A target, or a tap whose --about lists no ``discover``
    capability, is only checked against its settings schema."""
    connectors.validate_config(form.connector, config)  # names settings, never values
    if form.connector.kind != "tap":
        return None
    capabilities = form.connector.capabilities
    if capabilities and "discover" not in capabilities:
        log.info("%s: the tap does not discover; its settings were checked by its schema", where)
        return None
    timeout = flow.timeouts.get("discover", Timeouts.discover)
    try:
        return run_discovery(
            form.connector,
            config,
            cwd=workspace.root,
            timeout=timeout,
            secret_names=form.secret_names,  # its stderr (relayed, and in the error) redacted
        )
    except ConnectorError as exc:
        raise CredentialError(
            f"{where}: the check failed, nothing was saved: {exc.message}",
            hint="correct the settings and link again (or --no-check to save them unchecked)",
        ) from None
