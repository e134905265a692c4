"""The workspace store: what changes at run time, on SQLite (default) or PostgreSQL.

Tenants, their links (one per flow, tenant and supported connector) with encrypted
credentials, OAuth ``state`` values, link tokens, catalogs, field map overrides, app secrets,
state and leases. One schema (SQLAlchemy Core) on both databases. Every write is a short
transaction (``BEGIN IMMEDIATE`` on SQLite); no transaction is held across a network call: a
caller reads, talks to the provider, then writes with a compare-and-swap.

Secrets are encrypted with the workspace's :class:`~glue_runtime.workspace.crypto.Keyring`
before they are written; with no keyring, every call that would store or read a secret raises
SecretKeyError (never a plain-text fallback).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from glue_runtime.errors import SecretKeyError, StoreError
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.workspace import schema
from glue_runtime.workspace.crypto import Keyring
from glue_runtime.workspace.engine import WRITE, driver_url, lock_schema, make_engine
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.outbox import emit
from glue_runtime.workspace.tables import (
    app_secrets,
    audit,
    catalogs,
    fieldmap_overrides,
    leases,
    link_tokens,
    links,
    metadata,
    oauth_states,
    states,
    tenants,
)

__all__ = [  # the tables are defined in tables.py; other modules import them from here
    "LINK_NEEDS_REAUTH",
    "LINK_OK",
    "Link",
    "Store",
    "Tenant",
    "app_secrets",
    "audit",
    "catalogs",
    "driver_url",
    "fieldmap_overrides",
    "leases",
    "link_tokens",
    "links",
    "metadata",
    "oauth_states",
    "sqlite_url",
    "states",
    "tenants",
]


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass(frozen=True)
class Link:
    """A tenant's connection to a supported connector of a flow (secrets not included:
    :meth:`Store.credentials` decrypts them on demand)."""

    id: str
    flow: str
    tenant: str
    connector: str
    direction: str  # read | write
    auth: str  # none | api_key | oauth2
    status: str  # ok | needs_reauth | pending
    settings: dict[str, Any]
    credential_version: int
    expires_at: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    has_secrets: bool = False
    paused_at: float | None = None  # a paused link starts no job (workspace/linkpause.py)
    paused_reason: str | None = None
    failures: int = 0  # consecutive failed jobs


LINK_OK = "ok"
LINK_NEEDS_REAUTH = "needs_reauth"


def _json(value: Any) -> str:
    return dumps_exact(value).decode()


def _unjson(text: str | None) -> Any:
    return loads_exact(text) if text else {}


def sqlite_url(path: str) -> str:
    return f"sqlite:///{path}"


class Store:
    """One workspace's store. Thread-safe; open once per process and share it."""

    def __init__(
        self, url: str, keyring: Keyring | None = None, *, busy_timeout_s: float = 30.0
    ) -> None:
        """``busy_timeout_s``: how long a SQLite write waits for another writer to finish."""
        self.url = url
        self.keyring = keyring
        self.engine: Engine = make_engine(url, busy_timeout_s)

    # -- schema ---------------------------------------------------------------------------

    def create(self) -> None:
        """Bring an empty database to this code's schema (``glue init``); check an existing one
        (StoreError when it is older or newer than the code)."""
        with self._schema_errors(), self.write() as conn:
            lock_schema(conn)
            if schema.current(conn) is None:
                schema.upgrade(conn)
            schema.check(conn, self.where())

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the store to this code's schema (`glue store upgrade`), in one transaction;
        the revisions before and after. A store newer than the code is refused unchanged."""
        with self._schema_errors(), self.write() as conn:
            lock_schema(conn)
            before = schema.current(conn)
            if before is not None and not schema.known(before):
                schema.check(conn, self.where())  # raises: newer than this code
            schema.upgrade(conn)
            return before, schema.check(conn, self.where())

    def check_schema(self) -> str:
        """The store's schema revision; StoreError when it is missing, older than this code
        (`glue store upgrade`) or newer (a newer glue_runtime wrote it)."""
        with self._schema_errors(), self.engine.connect() as conn:
            return schema.check(conn, self.where())

    @contextmanager
    def _schema_errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise StoreError(
                f"cannot open the store at {self.where()}: {exc.orig}",
                hint="check the store URL (GLUE_STORE_URL or store.url in glue.yml) and that "
                "its database is reachable",
            ) from None

    def where(self) -> str:
        """The store's URL without a password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction (``BEGIN IMMEDIATE`` on SQLite: it takes the write lock
        up front, so it waits its turn (busy timeout) instead of failing to upgrade a read).

        Read with ``engine.connect()``: on SQLite that begins a deferred transaction, which
        takes no write lock and never blocks a writer (WAL)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    # -- secrets --------------------------------------------------------------------------

    def _keyring(self) -> Keyring:
        if self.keyring is None:
            raise SecretKeyError(
                "no secret key: the workspace refuses to store or read secrets without one",
                hint="set GLUE_SECRET_KEY or keep the key file `glue init` made (.glue/secret.key)",
            )
        return self.keyring

    def seal(self, value: dict[str, Any], row: str) -> str:
        return self._keyring().encrypt(dumps_exact(value), row)

    def unseal(self, envelope: str, row: str) -> dict[str, Any]:
        value = loads_exact(self._keyring().decrypt(envelope, row))
        return value if isinstance(value, dict) else {}

    # -- tenants --------------------------------------------------------------------------

    def add_tenant(
        self, tenant_id: str, name: str = "", meta: dict[str, Any] | None = None
    ) -> Tenant:
        now = time.time()
        with self.write() as conn:
            if conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first():
                raise StoreError(f"tenant '{tenant_id}' already exists")
            conn.execute(
                sa.insert(tenants).values(
                    id=tenant_id, name=name, metadata=_json(meta or {}), created_at=now
                )
            )
        return Tenant(tenant_id, name, dict(meta or {}), now)

    def tenants(self) -> list[Tenant]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tenants).order_by(tenants.c.id)).all()
        return [Tenant(r.id, r.name, _unjson(r.metadata), r.created_at) for r in rows]

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant; ConfigError with close matches when there is none."""
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(tenants).where(tenants.c.id == tenant_id)).first()
        if r is None:
            raise unknown(
                "tenant",
                tenant_id,
                [t.id for t in self.tenants()],
                where="the store",
                hint="add it with `glue tenants add`",
            )
        return Tenant(r.id, r.name, _unjson(r.metadata), r.created_at)

    # -- links ----------------------------------------------------------------------------

    def save_link(
        self,
        *,
        flow: str,
        tenant: str,
        connector: str,
        direction: str,
        auth: str,
        settings: dict[str, Any],
        secrets: dict[str, Any] | None,
        expires_at: float | None = None,
    ) -> Link:
        """Create the link, or replace its settings and credentials (re-linking clears
        "needs re-authorisation" and bumps the credential version)."""
        self.tenant(tenant)
        now = time.time()
        with self.write() as conn:
            old = conn.execute(
                sa.select(links.c.id, links.c.credential_version).where(
                    links.c.flow == flow, links.c.tenant == tenant, links.c.connector == connector
                )
            ).first()
            link_id = old.id if old else uuid.uuid4().hex
            sealed = self.seal(secrets, f"link:{link_id}:secrets") if secrets else None
            values = dict(
                direction=direction,
                auth=auth,
                status=LINK_OK,
                settings=_json(settings),
                secrets=sealed,
                expires_at=expires_at,
                last_error=None,
                updated_at=now,
            )
            if old:
                conn.execute(
                    sa.update(links)
                    .where(links.c.id == link_id)
                    .values(credential_version=old.credential_version + 1, **values)
                )
            else:
                conn.execute(
                    sa.insert(links).values(
                        id=link_id,
                        flow=flow,
                        tenant=tenant,
                        connector=connector,
                        credential_version=1,
                        created_at=now,
                        **values,
                    )
                )
        return self.link(flow, tenant, connector)

    def find_link(self, flow: str, tenant: str, connector: str) -> Link | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(links).where(
                    links.c.flow == flow, links.c.tenant == tenant, links.c.connector == connector
                )
            ).first()
        return _link(r) if r else None

    def link(self, flow: str, tenant: str, connector: str) -> Link:
        """The link; ConfigError naming what the tenant has linked when there is none."""
        found = self.find_link(flow, tenant, connector)
        if found is None:
            have = [f"{lk.flow}/{lk.connector}" for lk in self.links(tenant=tenant)]
            raise unknown(
                "link",
                f"{flow}/{connector}",
                have,
                where=f"tenant '{tenant}'",
                hint=f"link it with `glue link {flow} {connector} --tenant {tenant}`",
            )
        return found

    def links(
        self, *, tenant: str | None = None, flow: str | None = None, connector: str | None = None
    ) -> list[Link]:
        q = sa.select(links).order_by(links.c.flow, links.c.tenant, links.c.connector)
        if tenant is not None:
            q = q.where(links.c.tenant == tenant)
        if flow is not None:
            q = q.where(links.c.flow == flow)
        if connector is not None:
            q = q.where(links.c.connector == connector)
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(q).all()]

    def credentials(self, link: Link) -> tuple[int, dict[str, Any]]:
        """The link's decrypted secrets and the credential version they belong to."""
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(links.c.secrets, links.c.credential_version).where(links.c.id == link.id)
            ).first()
        if r is None:
            raise StoreError(f"link {link.flow}/{link.connector} of tenant '{link.tenant}' is gone")
        secrets = self.unseal(r.secrets, f"link:{link.id}:secrets") if r.secrets else {}
        return r.credential_version, secrets

    def swap_credentials(
        self,
        link: Link,
        expected_version: int,
        secrets: dict[str, Any],
        *,
        expires_at: float | None = None,
    ) -> int | None:
        """Replace the link's secrets only if they are still at ``expected_version``
        (compare-and-swap); the new version, or None when another writer got there first."""
        sealed = self.seal(secrets, f"link:{link.id}:secrets")
        with self.write() as conn:
            done = conn.execute(
                sa.update(links)
                .where(links.c.id == link.id, links.c.credential_version == expected_version)
                .values(
                    secrets=sealed,
                    credential_version=expected_version + 1,
                    expires_at=expires_at,
                    status=LINK_OK,
                    last_error=None,
                    updated_at=time.time(),
                )
            )
        return expected_version + 1 if done.rowcount == 1 else None

    def set_link_status(self, link: Link, status: str, error: str | None = None) -> None:
        """Set the link's status; a link that turns needs_reauth emits ``link.needs_reauth``
        in the same transaction (once: not again while it stays so)."""
        values = {"status": status, "last_error": error, "updated_at": time.time()}
        with self.write() as conn:
            if status == LINK_NEEDS_REAUTH:  # the change, once, even with writers racing
                changed = conn.execute(
                    sa.update(links)
                    .where(links.c.id == link.id, links.c.status != LINK_NEEDS_REAUTH)
                    .values(**values)
                )
                if changed.rowcount == 1:
                    data = {"flow": link.flow, "tenant": link.tenant, "connector": link.connector}
                    emit(conn, "link.needs_reauth", {**data, "reason": error}, tenant=link.tenant)
                    return
            conn.execute(sa.update(links).where(links.c.id == link.id).values(**values))

    def delete_link(self, link: Link) -> None:
        with self.write() as conn:
            conn.execute(sa.delete(links).where(links.c.id == link.id))
            for table in (catalogs, fieldmap_overrides):
                conn.execute(
                    sa.delete(table).where(
                        table.c.flow == link.flow,
                        table.c.tenant == link.tenant,
                        table.c.connector == link.connector,
                    )
                )

    def remove_tenant(self, tenant: str) -> dict[str, int]:
        """Delete the tenant and everything the store holds of theirs (links, credentials,
        catalogs, overrides, OAuth states, link tokens, state and leases of their keys); the
        rows removed per table. See glue_runtime.workspace.cleanup."""
        from glue_runtime.workspace.cleanup import remove_tenant

        return remove_tenant(self, tenant)

    def purge_expired(self, now: float | None = None) -> dict[str, int]:
        """Delete expired OAuth ``state`` values and link tokens; the rows removed per table."""
        from glue_runtime.workspace.cleanup import purge_expired

        return purge_expired(self, now)

    # -- catalogs and field map overrides ------------------------------------------------

    def save_catalog(self, flow: str, tenant: str, connector: str, catalog: dict[str, Any]) -> None:
        self._upsert(
            catalogs,
            dict(flow=flow, tenant=tenant, connector=connector),
            dict(catalog=_json(catalog), discovered_at=time.time()),
        )

    def catalog(self, flow: str, tenant: str, connector: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(catalogs.c.catalog).where(
                    catalogs.c.flow == flow,
                    catalogs.c.tenant == tenant,
                    catalogs.c.connector == connector,
                )
            ).scalar()
        return _unjson(r) if r else None

    def save_fieldmap_override(
        self, flow: str, tenant: str, connector: str, body: str, who: str = ""
    ) -> None:
        self._upsert(
            fieldmap_overrides,
            dict(flow=flow, tenant=tenant, connector=connector),
            dict(body=body, updated_at=time.time(), updated_by=who),
        )

    def fieldmap_override(self, flow: str, tenant: str, connector: str) -> str | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(fieldmap_overrides.c.body).where(
                    fieldmap_overrides.c.flow == flow,
                    fieldmap_overrides.c.tenant == tenant,
                    fieldmap_overrides.c.connector == connector,
                )
            ).scalar()
        return str(r) if r is not None else None

    # -- audit ----------------------------------------------------------------------------

    def record(self, action: str, subject: str, actor: str = "") -> None:
        """Note an action worth auditing (a revealed secret, a removed tenant): never a value."""
        with self.write() as conn:
            conn.execute(
                sa.insert(audit).values(at=time.time(), actor=actor, action=action, subject=subject)
            )

    # -- helpers --------------------------------------------------------------------------

    def _upsert(self, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
        where = [table.c[k] == v for k, v in key.items()]
        with self.write() as conn:
            done = conn.execute(sa.update(table).where(*where).values(**values))
            if done.rowcount == 0:
                conn.execute(sa.insert(table).values(**key, **values))

    def close(self) -> None:
        self.engine.dispose()


def _link(r: Any) -> Link:
    return Link(
        id=r.id,
        flow=r.flow,
        tenant=r.tenant,
        connector=r.connector,
        direction=r.direction,
        auth=r.auth,
        status=r.status,
        settings=_unjson(r.settings),
        credential_version=r.credential_version,
        expires_at=r.expires_at,
        last_error=r.last_error,
        created_at=r.created_at,
        updated_at=r.updated_at,
        has_secrets=bool(r.secrets),
        paused_at=r.paused_at,
        paused_reason=r.paused_reason,
        failures=r.failures or 0,
    )
