"""Connecting to PostgreSQL from the connector's config, with errors that never hold a secret.

libpq error texts can quote parts of the connection string (a malformed DSN is echoed back), so
every message built here replaces the password and the DSN with *** before it is raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from singer_sdk import typing as th

DEFAULT_PORT = 5432

# Settings shared by the tap and the target.
CONNECTION_SETTINGS: list[th.Property] = [
    th.Property(
        "dsn",
        th.StringType,
        secret=True,
        description=(
            "A libpq connection string or URL (postgresql://user:password@host:port/db). "
            "When set, host, port, user and database are ignored; password is used only if "
            "the DSN has none."
        ),
    ),
    th.Property("host", th.StringType, description="Server host name or IP address."),
    th.Property("port", th.IntegerType, description=f"Server port (default {DEFAULT_PORT})."),
    th.Property("user", th.StringType, description="User name to connect as."),
    th.Property("password", th.StringType, secret=True, description="The user's password."),
    th.Property("database", th.StringType, description="Database name."),
    th.Property(
        "sslmode",
        th.StringType,
        description="libpq sslmode (disable, prefer, require, verify-full...).",
    ),
    th.Property(
        "connect_timeout",
        th.IntegerType,
        default=10,
        description="Seconds to wait for the server before failing.",
    ),
]


class PostgresConnectionError(Exception):
    """The server could not be reached or refused the login (the message has no secrets)."""


class PostgresConfigError(Exception):
    """The connection settings are missing or malformed (the message has no secrets)."""


class ConnectionSettings:
    """The connection parameters from a config, plus what error messages may show."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._secrets = [s for s in (config.get("password"), config.get("dsn")) if s]
        params: dict[str, Any] = {}
        dsn = config.get("dsn")
        if dsn:
            # A URL's password (best effort, for redacting libpq's parse errors).
            url_password = re.search(r"://[^/@:]*:([^@]+)@", dsn)
            if url_password:
                self._secrets.append(url_password.group(1))
            try:
                params = conninfo_to_dict(dsn)
            except psycopg.ProgrammingError as exc:
                reason = " ".join(self.redact(str(exc)).split())
                raise PostgresConfigError(
                    f"Setting 'dsn' is not a valid PostgreSQL connection string or URL "
                    f"({reason}); expected postgresql://user:password@host:port/database."
                ) from None
            if params.get("password"):
                self._secrets.append(str(params["password"]))
            elif config.get("password"):
                params["password"] = config["password"]
        else:
            missing = [k for k in ("host", "user", "database") if not config.get(k)]
            if missing:
                raise PostgresConfigError(
                    f"Missing setting(s) {', '.join(missing)}: set host, user and database "
                    "(and password), or a single dsn."
                )
            params = {
                "host": config["host"],
                "port": int(config.get("port") or DEFAULT_PORT),
                "user": config["user"],
                "dbname": config["database"],
            }
            if config.get("password"):
                params["password"] = config["password"]
        for key in ("sslmode", "connect_timeout"):
            if config.get(key) is not None and key not in params:
                params[key] = config[key]
        params.setdefault("application_name", "glue_postgres")
        self.params = params

    @property
    def where(self) -> str:
        """host:port, user and database, for messages (no password)."""
        p = self.params
        host = p.get("host") or p.get("hostaddr") or "localhost"
        port = p.get("port") or DEFAULT_PORT
        user = p.get("user") or "(default)"
        dbname = p.get("dbname") or "(default)"
        return f"{host}:{port} as user {user!r}, database {dbname!r}"

    def redact(self, text: str) -> str:
        """The text with every secret of this config replaced by ***."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(str(secret), "***")
        return text

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        """Open a connection; a failure raises PostgresConnectionError naming host, port, user."""
        try:
            conn = psycopg.connect(**self.params, **kwargs)
            # Timestamps without an offset mean UTC (the Singer convention) whatever the
            # server's, role's or PGTZ's time zone; the tap's timestamps come out in UTC too.
            conn.execute("SET TIME ZONE 'UTC'")
            if not conn.autocommit:
                conn.commit()
            return conn
        except psycopg.Error as exc:
            reason = " ".join(self.redact(str(exc)).split())
            raise PostgresConnectionError(
                f"Cannot connect to PostgreSQL at {self.where}: {reason}. Check the host, port, "
                "user and password settings (or dsn), and that the server accepts connections."
            ) from None
