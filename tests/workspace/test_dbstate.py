"""DbStateStore beyond the contract tests of tests/test_statestore.py (which run on it too):
exact numbers, expiry by the store's clock, a lease held by another process, a real job."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from glue_test_helpers import SINGER
from store_test_helpers import fresh_pg_url

from glue_runtime.connectors import resolve
from glue_runtime.errors import LeaseLost, StateError, StateLocked
from glue_runtime.runner import run_job
from glue_runtime.spec import Endpoint, JobSpec
from glue_runtime.workspace.dbstate import DbStateStore, link_refresh_key, workspace_state_key
from glue_runtime.workspace.store import Store


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_state_keys_of_workspace_runs_and_link_refreshes():
    assert workspace_state_key("shop", "acme", "tap-shopify") == "shop/acme/tap-shopify"
    assert link_refresh_key("ab12") == "link-refresh/ab12"


def test_exact_numbers_survive_a_commit(any_store: Store):
    state = DbStateStore(any_store)
    big = {"bookmarks": {"s": {"id": 2**70 + 1, "amount": Decimal("0.1000000000000000000001")}}}
    lease = state.acquire("k", "a", 60)
    state.commit("k", big, lease)
    got = DbStateStore(Store(any_store.url)).get("k")
    assert got["bookmarks"]["s"]["id"] == 2**70 + 1
    assert str(got["bookmarks"]["s"]["amount"]) == "0.1000000000000000000001"
    state.release(lease)


def test_expiry_follows_the_stores_clock(store: Store):
    clock = Clock()
    first, second = DbStateStore(store, clock=clock), DbStateStore(store, clock=clock)
    old = first.acquire("k", "a", 10)
    clock.now += 9
    with pytest.raises(StateLocked):
        second.acquire("k", "b", 10)
    clock.now += 2  # past the first lease's expiry, nobody renewed it
    new = second.acquire("k", "b", 10)
    assert new.token == old.token + 1 and new.expires_at == clock.now + 10
    with pytest.raises(LeaseLost, match="took the key over with fencing token 2"):
        first.commit("k", {"bookmarks": {"s": 1}}, old)
    assert second.get("k") == {}


@pytest.mark.postgres
def test_postgresql_expiry_uses_the_database_clock():
    """The lease's expiry is the database's clock plus the ttl, whatever this machine says
    (SQLite is a local file: its clock is this machine's)."""
    with fresh_pg_url() as url:
        store = Store(url)
        store.create()
        lease = DbStateStore(store).acquire("k", "a", 100)
        with store.engine.connect() as conn:
            db_now = float(conn.exec_driver_sql("SELECT extract(epoch FROM now())").scalar_one())
        store.close()
    assert db_now + 90 < lease.expires_at <= db_now + 101


def test_a_lease_held_by_another_process_is_named(store: Store, tmp_path: Path):
    holder = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from glue_runtime.workspace.store import Store;"
            "from glue_runtime.workspace.dbstate import DbStateStore;"
            "l = DbStateStore(Store(sys.argv[1])).acquire('shop/acme/tap', 'worker-1', 600);"
            "print(l.token)",
            store.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    with pytest.raises(StateLocked) as caught:
        DbStateStore(store).acquire("shop/acme/tap", "me", 600)
    message = str(caught.value)
    assert "another run holds the lock on state key 'shop/acme/tap'" in message
    assert "owner worker-1" in message and "pid " in message
    assert holder.stdout.strip() == "1"


def test_bad_keys_and_values_are_refused(store: Store):
    state = DbStateStore(store)
    with pytest.raises(StateError, match="invalid state key"):
        state.get("")
    with pytest.raises(StateError, match="must be a JSON object"):
        state.set("k", [1, 2])  # type: ignore[arg-type]
    lease = state.acquire("k", "a", 60)
    with pytest.raises(StateError, match="cannot commit state key"):
        state.commit("other", {}, lease)
    assert state.keys() == []


def test_an_unreachable_database_is_a_state_error(tmp_path: Path):
    state = DbStateStore(Store(f"sqlite:///{tmp_path}/missing/dir/store.db"))
    with pytest.raises(StateError, match="cannot read state in the store at sqlite"):
        state.get("k")


def test_a_real_job_commits_its_state_to_the_store(any_store: Store, tmp_path: Path):
    tap = resolve(str(SINGER / "review_tap.py"), "tap")
    target = resolve(str(SINGER / "review_target.py"), "target")
    schema = {
        "type": "SCHEMA",
        "stream": "s",
        "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "key_properties": ["id"],
    }
    record = {"type": "RECORD", "stream": "s", "record": {"id": 1}}
    state_msg = {"type": "STATE", "value": {"bookmarks": {"s": 1}}}
    steps = [["out", json.dumps(m) + "\n"] for m in (schema, record, state_msg)]
    state = DbStateStore(any_store)
    key = workspace_state_key("shop", "acme", "tap")
    result = run_job(
        JobSpec(
            tap=Endpoint(tap, {"steps": steps}),
            targets=[Endpoint(target, {"output": str(tmp_path / "out")})],
            store=state,
            state_key=key,
            state_write_interval_s=0,
        )
    )
    assert result.exit_code == 0, result.error
    assert state.get(key) == {"bookmarks": {"s": 1}}
    assert DbStateStore(any_store).acquire(key, "next", 60).token == 2  # released at the end
