"""Writers in several processes on one store: short write transactions that wait their turn
(SQLite: BEGIN IMMEDIATE, WAL, a busy timeout) lose nothing, and reads block no writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.store import Store, tenants

WORKER = Path(__file__).with_name("store_worker.py")
N = 200


def test_two_processes_writing_at_once_lose_nothing(store_url: str, tmp_path: Path):
    key = new_key()
    store = Store(store_url, Keyring.from_texts([key], "the test"))
    store.create()
    store.add_tenant("acme")
    link = store.save_link(
        flow="shop",
        tenant="acme",
        connector="tap",
        direction="read",
        auth="api_key",
        settings={},
        secrets={"count": 0},
    )
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), store_url, name, str(N), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "GLUE_SECRET_KEY": key},
        )
        for name in ("w1", "w2")
    ]
    go.touch()
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert "database is locked" not in err
        assert json.loads(out)["swaps"] == N
    version, secrets = store.credentials(link)
    assert secrets["count"] == 2 * N and version == link.credential_version + 2 * N
    assert {secrets["w1"], secrets["w2"]} == {N - 1}
    state = DbStateStore(store)
    for name in ("w1", "w2"):
        got = state.get(f"shop/acme/{name}")
        assert got["n"] == N and len(got["bookmarks"]) == 7
    store.close()


def test_an_open_read_does_not_block_a_writer(tmp_path: Path):
    """A read transaction takes no write lock: a writer with a short busy timeout goes on."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    reader = Store(url)
    reader.create()
    writer = Store(url, busy_timeout_s=0.5)
    with reader.engine.connect() as conn:
        assert conn.execute(sa.select(tenants)).all() == []  # the read transaction is open
        writer.add_tenant("acme")  # would fail "database is locked" if the read held the lock
        assert conn.in_transaction()
    assert [t.id for t in reader.tenants()] == ["acme"]
    reader.close()
    writer.close()


RACER = """
import sys, time
from pathlib import Path
from glue_runtime.errors import StateLocked
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.store import Store
state = DbStateStore(Store(sys.argv[1]))
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.002)
try:
    print(state.acquire("shop/acme/tap", sys.argv[3], 600).token)
except StateLocked:
    print("locked")
"""


def test_processes_racing_for_a_new_key_get_one_lease(store_url: str, tmp_path: Path):
    """The key has no lease row yet: the row is created once and exactly one process wins."""
    store = Store(store_url)
    store.create()
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, store_url, str(go), f"racer-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    go.touch()
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err
        answers.append(out.strip())
    assert sorted(answers) == ["1", "locked", "locked", "locked"]
    store.close()
