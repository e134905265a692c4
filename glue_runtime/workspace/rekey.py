"""Re-encrypting the store's secrets with the current key (key rotation), and counting which
key each sealed value needs (so an old key is dropped only once nothing uses it).

Every sealed column of the store is listed in :data:`SEALED` with the row identity its values
are bound to. Re-encryption works in small batches: read a batch outside any transaction,
decrypt and encrypt in memory, then write each value back in one short transaction with a
compare-and-swap on the old envelope, so a value another process changed meanwhile (a token
refresh) is left alone: that writer already used the current key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from glue_runtime.workspace.crypto import Keyring, current_key_prefix, envelope_key_id
from glue_runtime.workspace.store import Store, app_secrets, links, oauth_states

BATCH = 200


@dataclass(frozen=True)
class Sealed:
    """A column of encrypted values and the row identity (associated data) of each."""

    name: str
    table: sa.Table
    column: str
    row: Callable[[Any], str]  # a result row (with the key columns) -> its row identity

    @property
    def keys(self) -> list[sa.Column[Any]]:
        return list(self.table.primary_key.columns)


SEALED: tuple[Sealed, ...] = (
    Sealed("link credentials", links, "secrets", lambda r: f"link:{r.id}:secrets"),
    Sealed(
        "app secrets",
        app_secrets,
        "value",
        lambda r: f"app:{r.flow}:{r.connector}:{r.name}",
    ),
    Sealed(
        "OAuth verifiers",
        oauth_states,
        "verifier",
        lambda r: f"oauth_state:{r.state_hash}",
    ),
)


def key_usage(store: Store) -> Counter[str]:
    """How many sealed values each key id encrypted, over every sealed column."""
    used: Counter[str] = Counter()
    with store.engine.connect() as conn:
        for sealed in SEALED:
            col = sealed.table.c[sealed.column]
            for (value,) in conn.execute(sa.select(col).where(col.is_not(None))):
                used[envelope_key_id(str(value))] += 1
    return used


def reencrypt(store: Store, keyring: Keyring, batch: int = BATCH) -> dict[str, int]:
    """Encrypt every sealed value not yet under ``keyring``'s current key again with it.

    Returns how many values of each kind were re-encrypted. A value that does not decrypt
    with any key of the keyring raises SecretKeyError (naming its row and key id) after the
    values before it were done; running again continues where it stopped.
    """
    done: dict[str, int] = {}
    for sealed in SEALED:
        done[sealed.name] = _reencrypt_column(store, keyring, sealed, batch)
    return done


def _reencrypt_column(store: Store, keyring: Keyring, sealed: Sealed, batch: int) -> int:
    """One pass over the column in key order (keyset pages), one short write per page."""
    col = sealed.table.c[sealed.column]
    stale = sa.and_(col.is_not(None), sa.not_(col.startswith(current_key_prefix(keyring))))
    count = 0
    after: tuple[Any, ...] | None = None
    while True:
        page = sa.select(*sealed.keys, col).where(stale).order_by(*sealed.keys).limit(batch)
        if after is not None:
            page = page.where(sa.tuple_(*sealed.keys) > sa.tuple_(*after))
        with store.engine.connect() as conn:
            rows = conn.execute(page).all()
        if not rows:
            return count
        after = tuple(rows[-1][: len(sealed.keys)])
        # decrypt and encrypt before the transaction: it holds only the writes
        params = [
            {
                **{f"key_{k.name}": r._mapping[k.name] for k in sealed.keys},
                "old_value": r[-1],
                "new_value": keyring.reencrypt(str(r[-1]), sealed.row(r)),
            }
            for r in rows
        ]
        with store.write() as conn:
            count += conn.execute(_swap(sealed), params).rowcount


def _swap(sealed: Sealed) -> sa.Update:
    """One value's compare-and-swap: only while the row still holds the envelope we read."""
    col = sealed.table.c[sealed.column]
    return (
        sa.update(sealed.table)
        .where(*[k == sa.bindparam(f"key_{k.name}") for k in sealed.keys])
        .where(col == sa.bindparam("old_value"))
        .values({col.name: sa.bindparam("new_value")})
    )
