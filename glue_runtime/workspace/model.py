"""What a workspace's ``glue.yml`` describes: its flows, their supported connectors and targets.

These are plain values, read once from the file (``glue_runtime.workspace.config``); what
changes at run time (tenants, links, credentials, catalogs, state, jobs) lives in the store
(``glue_runtime.workspace.store``). docs/workspace.md is the reference for every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

AuthKind = Literal["none", "api_key", "oauth2"]
Direction = Literal["read", "write"]
Grant = Literal["authorization_code", "client_credentials"]

DEFAULT_REFRESH_MARGIN_S = 600.0
DEFAULT_OAUTH_STATE_TTL_S = 600.0
DEFAULT_LINK_TOKEN_TTL_S = 1800.0


@dataclass(frozen=True)
class OAuthApp:
    """The OAuth2 client the builder registered with a provider (app level, not per tenant).

    ``client_secret`` is read from the environment (``${VAR}`` in glue.yml) or from the
    store's app secrets; it is never written to glue.yml in clear.
    """

    token_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)  # never in a repr
    authorize_url: str | None = None  # None for the client credentials grant
    revoke_url: str | None = None
    scope: str = ""
    redirect_uri: str | None = None  # exact, as registered: http://127.0.0.1:PORT/callback
    grant: Grant = "authorization_code"
    pkce: bool = True  # S256; False only for a provider that refuses it
    token_auth: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    authorize_params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SupportedConnector:
    """A connector configured in a flow: which connector, its app settings, how tenants link.

    ``id`` is the name links, the CLI and state keys use (``shopify``); ``connector`` is what
    runs (a connector name, an executable, or a path). ``config`` is the app-level config
    every tenant's run starts from; strings in it may use ``{tenant}``, ``{flow}``,
    ``{connector}`` and ``{link.NAME}`` placeholders (a value of the link's settings or
    credentials). ``settings`` names what a tenant gives when linking (API-key style; the
    connector's settings schema says which are secret); empty means "the connector's required
    settings that ``config`` does not already set".
    """

    id: str
    connector: str
    direction: Direction = "read"
    auth: AuthKind = "none"
    # It may hold values from the environment (``${VAR}``, secrets): never in a repr.
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    settings: tuple[str, ...] = ()
    secret_settings: tuple[str, ...] = ()  # besides those the connector's schema marks secret
    oauth: OAuthApp | None = None
    field_map: Path | None = None  # the flow's field map for this source (else the flow's)
    catalog: Path | None = None  # a fixed catalog instead of discovering per link

    @property
    def needs_link(self) -> bool:
        """A source always needs a tenant's link; a target only when it writes to the tenant."""
        return self.direction == "read" or self.auth != "none"


@dataclass(frozen=True)
class WorkspaceFlow:
    """A flow: its sources (read links), its targets (write links when they have auth), and
    the field map, ETL script, mappers and timeouts every source of it shares."""

    name: str
    sources: dict[str, SupportedConnector]
    targets: dict[str, SupportedConnector]
    description: str = ""
    field_map: Path | None = None
    etl: Path | None = None
    etl_mode: Literal["stream", "batch"] = "stream"
    etl_format: str = "jsonl"
    mappers: tuple[dict[str, Any], ...] = field(default=(), repr=False)  # configs: as above
    timeouts: dict[str, float | None] = field(default_factory=dict)
    # glue.yml's `triggers:` and `schedules:` of the flow, as checked by the schema; parsed
    # into typed objects by glue_runtime/service/triggers and glue_runtime/service/schedules.
    triggers: dict[str, Any] = field(default_factory=dict, repr=False)
    schedules: dict[str, Any] = field(default_factory=dict, repr=False)

    def connector(self, connector_id: str) -> SupportedConnector:
        """The supported connector ``connector_id`` (source or target); ConfigError if none."""
        from glue_runtime.workspace.names import unknown

        found = self.sources.get(connector_id) or self.targets.get(connector_id)
        if found is None:
            raise unknown(
                "connector",
                connector_id,
                [*self.sources, *self.targets],
                where=f"flow '{self.name}'",
                hint="add it under the flow's sources: or targets: in glue.yml",
            )
        return found


@dataclass(frozen=True)
class InstalledConnector:
    """A connector the workspace installed into a virtualenv of its own."""

    name: str
    pip_url: str
    executables: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkspaceSettings:
    """Workspace-wide settings (seconds)."""

    refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S
    oauth_state_ttl_s: float = DEFAULT_OAUTH_STATE_TTL_S
    link_token_ttl_s: float = DEFAULT_LINK_TOKEN_TTL_S


@dataclass(frozen=True)
class Workspace:
    """A loaded workspace: its folder, glue.yml's flows and settings, and where its store is."""

    root: Path
    flows: dict[str, WorkspaceFlow]
    name: str = ""
    store_url: str = ""  # resolved: GLUE_STORE_URL, else glue.yml's store.url, else SQLite here
    key_file: Path | None = None  # the secret key file (GLUE_SECRET_KEY wins over it)
    settings: WorkspaceSettings = field(default_factory=WorkspaceSettings)
    installed: dict[str, InstalledConnector] = field(default_factory=dict)
    # glue.yml's `jobs:` (executor, limits, retention), `server:` (glue serve) and `webhooks:`
    # (outbound events) sections, as checked by the schema; parsed by the modules that use
    # them (glue_runtime/jobs/settings.py, glue_runtime/service/settings.py, .../events).
    jobs: dict[str, Any] = field(default_factory=dict, repr=False)
    server: dict[str, Any] = field(default_factory=dict, repr=False)
    webhooks: dict[str, Any] = field(default_factory=dict, repr=False)
    # The values ${VAR}s in glue.yml took from the environment: they may be secrets, so
    # displays and logs mask them. Never printed (repr) nor compared.
    env_values: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def config_path(self) -> Path:
        return self.root / "glue.yml"

    @property
    def data_dir(self) -> Path:
        """Where the workspace keeps what is not versioned: the SQLite store, the key file,
        connector virtualenvs, job folders (``.glue/``, git-ignored)."""
        return self.root / ".glue"

    def flow(self, name: str) -> WorkspaceFlow:
        """The flow ``name``; ConfigError with close matches if there is none."""
        from glue_runtime.workspace.names import unknown

        found = self.flows.get(name)
        if found is None:
            raise unknown("flow", name, list(self.flows), where=str(self.config_path))
        return found
