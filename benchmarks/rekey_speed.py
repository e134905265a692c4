"""How fast `glue secrets rotate-key` re-encrypts a store's link credentials.

    python benchmarks/rekey_speed.py 10000                      # SQLite in a temp folder
    python benchmarks/rekey_speed.py 10000 'postgresql+psycopg://u:p@host/db?options=-csearch_path%3Dbench'

Fills an empty store with N links (OAuth-sized credentials, sealed with an old key), then times
rekey.reencrypt with a keyring whose current key is new. The PostgreSQL schema must exist and
be empty.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid

import sqlalchemy as sa

from glue_runtime.protocol import dumps_exact
from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.rekey import reencrypt
from glue_runtime.workspace.store import Store, links, tenants


def fill(store: Store, old: Keyring, n: int) -> None:
    now = time.time()
    secrets = dumps_exact({"access_token": "a" * 40, "refresh_token": "r" * 40})
    rows = []
    for i in range(n):
        link_id = uuid.uuid4().hex
        rows.append(
            dict(
                id=link_id, flow="f", tenant=f"t{i}", connector="c", direction="read",
                auth="oauth2", status="ok", settings="{}", credential_version=1,
                secrets=old.encrypt(secrets, f"link:{link_id}:secrets"),
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    with store.write() as conn:
        conn.execute(
            sa.insert(tenants),
            [dict(id=f"t{i}", name="", metadata="{}", created_at=now) for i in range(n)],
        )
        conn.execute(sa.insert(links), rows)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{tempfile.mkdtemp()}/store.db"
    old_key = new_key()
    store = Store(url, Keyring.from_texts([old_key], "old"))
    store.create()
    fill(store, Keyring.from_texts([old_key], "old"), n)
    both = Keyring.from_texts([new_key(), old_key], "new and old")
    started = time.perf_counter()
    done = reencrypt(store, both)["link credentials"]
    took = time.perf_counter() - started
    rate = done / took
    print(f"{store.where()}: re-encrypted {done} link credentials in {took:.2f}s ({rate:.0f}/s)")
    store.close()


if __name__ == "__main__":
    main()
