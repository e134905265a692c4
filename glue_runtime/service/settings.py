"""glue.yml's ``server:`` block as typed settings (the schema in glue.schema.json checked its
shape; this gives the defaults and the derived URLs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glue_runtime.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB: webhook bodies over it get 413
DEFAULT_GRACE_S = 30.0


@dataclass(frozen=True)
class ServerSettings:
    """Where ``glue serve`` listens and the URL the outside world reaches it at."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    grace_s: float = DEFAULT_GRACE_S

    @property
    def base_url(self) -> str:
        """``public_url`` when set (behind a proxy), else the address served at."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        """The public URL of ``path`` (``/v1/hooks/abc``, ``/v1/oauth/callback``)."""
        return self.base_url + "/" + path.lstrip("/")


def _int(raw: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"glue.yml server.{key} must be a whole number from {low} to {high}, not {value!r}"
        )
    return value


def parse_server(raw: dict[str, Any] | None) -> ServerSettings:
    """The ``server:`` block of glue.yml (an empty or missing block: every default)."""
    raw = dict(raw or {})
    public_url = raw.get("public_url")
    if public_url is not None and not str(public_url).startswith(("http://", "https://")):
        raise ConfigError(
            f"glue.yml server.public_url must start with http:// or https://, not {public_url!r}",
            hint="the base URL triggers and OAuth callbacks are reached at, e.g. https://glue.example.com",
        )
    grace = raw.get("grace", DEFAULT_GRACE_S)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
        raise ConfigError(f"glue.yml server.grace must be seconds (0 or more), not {grace!r}")
    return ServerSettings(
        host=str(raw.get("host", DEFAULT_HOST)),
        port=_int(raw, "port", DEFAULT_PORT, 0, 65535),
        public_url=str(public_url) if public_url else None,
        max_body=_int(raw, "max_body", DEFAULT_MAX_BODY, 1, 1024**3),
        grace_s=float(grace),
    )


def settings_of(ctx: Any) -> ServerSettings:
    """The settings a ServiceContext serves with (``glue serve`` puts them in ``ctx.extra``;
    an app built without them reads glue.yml's block)."""
    found = ctx.extra.get("settings")
    if isinstance(found, ServerSettings):
        return found
    parsed = parse_server(ctx.opened.workspace.server)
    ctx.extra["settings"] = parsed
    return parsed
