"""The state store contract: read, merge-commit, and a lease per state key.

The contract tests run against every StateStore implementation in ``STORES`` (a store-backed
one adds itself there). Two store objects on the same place stand for two processes or
machines. Leases expire with small ttl values, and the tests wait for the events they need
(a takeover succeeding, a renewal blocking), never for a fixed time. The end-to-end tests run
real jobs with the scripted connectors of tests/singer/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import SINGER, WAIT_S, run_cli, wait_until, write_json
from store_test_helpers import fresh_store_url

from glue_runtime.connectors import resolve
from glue_runtime.errors import LeaseLost, StateError, StateLocked
from glue_runtime.result import JobResult
from glue_runtime.runner import run_job
from glue_runtime.spec import Endpoint, JobSpec
from glue_runtime.state import FileStateStore, SingleFileStateStore, StateCommitter
from glue_runtime.statestore import Lease, LeaseKeeper, StateStore
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.store import Store

REVIEW_TAP = str(SINGER / "review_tap.py")
REVIEW_TARGET = str(SINGER / "review_target.py")
SHORT_TTL_S = 0.3  # a lease that runs out quickly when nobody renews it
LONG_TTL_S = 600.0  # a lease that does not run out during a test

StoreFactory = Callable[..., StateStore]


_DB_STORES: dict[Path, Store] = {}  # the fixture's open Store per place, for the factory


def _db_state_store(place: Path, ttl: float) -> StateStore:
    """A state store on the database the fixture set up for ``place``. Each call is a new
    DbStateStore (which keeps nothing in memory: the rows fence), on one shared engine so a
    call costs no new connection: the short-ttl tests must not spend their lease opening one
    (processes of their own are in tests/workspace/test_concurrency.py and test_dbstate.py)."""
    return DbStateStore(_DB_STORES[place], lease_ttl_s=ttl)


# Each entry makes a store on ``place`` with a lease ttl; two calls on one place share the
# state and the leases, as two processes (or machines) do.
STORES: dict[str, Callable[[Path, float], StateStore]] = {
    "folder": lambda place, ttl: FileStateStore(place / "state", lease_ttl_s=ttl),
    "single-file": lambda place, ttl: SingleFileStateStore(place / "job.json", lease_ttl_s=ttl),
    "sqlite": _db_state_store,
    "postgresql": _db_state_store,
}
DATABASES = {"sqlite", "postgresql"}  # the stores that need a database made for each test


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.postgres) if name == "postgresql" else name
        for name in sorted(STORES)
    ]
)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = STORES[request.param]
    made: list[StateStore] = []

    def make(ttl: float = LONG_TTL_S) -> StateStore:
        made.append(factory(tmp_path, ttl))
        return made[-1]

    if request.param not in DATABASES:
        yield make
        return
    with fresh_store_url(request.param, tmp_path) as url:
        _DB_STORES[tmp_path] = Store(url)
        try:
            _DB_STORES[tmp_path].create()
            yield make
        finally:
            _DB_STORES.pop(tmp_path).close()


def try_acquire(store: StateStore, owner: str, ttl: float = LONG_TTL_S) -> Lease | None:
    try:
        return store.acquire("job", owner, ttl)
    except StateLocked:
        return None


def take_over(store: StateStore, owner: str) -> Lease:
    """Wait until ``owner`` gets the key (the old lease has expired), then return its lease."""
    lease: Lease = wait_until(lambda: try_acquire(store, owner), f"{owner} taking the key over")
    return lease


# == the contract, for every store ================================================================


def test_acquire_renew_release(make_store: StoreFactory):
    store = make_store()
    lease = store.acquire("job", "a", LONG_TTL_S)
    assert (lease.key, lease.owner, lease.ttl_s) == ("job", "a", LONG_TTL_S)
    renewed = store.renew(lease)
    assert renewed.token == lease.token and renewed.expires_at >= lease.expires_at
    store.release(renewed)
    with pytest.raises(LeaseLost, match="released"):
        store.renew(renewed)
    again = make_store().acquire("job", "b", LONG_TTL_S)  # free at once after a release
    assert again.token > lease.token
    store.release(again)


def test_a_second_owner_is_refused_while_the_lease_is_live(make_store: StoreFactory):
    first, second = make_store(), make_store()
    lease = first.acquire("job", "a", LONG_TTL_S)
    with pytest.raises(StateLocked, match=r"another run holds the lock on state key 'job' \(pid"):
        second.acquire("job", "b", LONG_TTL_S)
    first.release(lease)


def test_takeover_after_expiry_gets_a_higher_fencing_token(make_store: StoreFactory):
    first, second = make_store(), make_store()
    old = first.acquire("job", "a", SHORT_TTL_S)  # and never renewed: a stalled holder
    new = take_over(second, "b")
    assert new.token > old.token
    with pytest.raises(LeaseLost, match=r"took the key over with fencing token"):
        first.renew(old)
    with pytest.raises(StateLocked):  # the new owner's lease is live
        make_store().acquire("job", "c", LONG_TTL_S)
    first.release(old)  # the old holder letting go does not free the new owner's key
    with pytest.raises(StateLocked):
        make_store().acquire("job", "c", LONG_TTL_S)
    second.release(new)
    assert make_store().acquire("job", "c", LONG_TTL_S).token > new.token


def test_a_commit_with_a_lease_taken_over_is_refused(make_store: StoreFactory):
    first, second = make_store(), make_store()
    old = first.acquire("job", "a", SHORT_TTL_S)
    first.commit("job", {"bookmarks": {"s": 1}}, old)
    new = take_over(second, "b")
    assert second.commit("job", {"bookmarks": {"t": 1}}, new) == {"bookmarks": {"s": 1, "t": 1}}
    with pytest.raises(LeaseLost, match="took the key over"):
        first.commit("job", {"bookmarks": {"s": 99}}, old)
    second.commit("job", {"bookmarks": {"t": 2}}, new)
    # Exactly what was committed before the takeover and the new owner's commits since.
    assert make_store().get("job") == {"bookmarks": {"s": 1, "t": 2}}
    second.release(new)


def test_an_expired_lease_nobody_took_still_renews_and_commits(make_store: StoreFactory):
    store = make_store()
    lease = store.acquire("job", "a", SHORT_TTL_S)
    wait_until(lambda: time.time() > lease.expires_at + 0.05, "the lease to expire")
    store.commit("job", {"bookmarks": {"s": 1}}, lease)  # nobody else can have written
    renewed = store.renew(lease)
    assert renewed.expires_at > time.time()
    assert try_acquire(make_store(), "b") is None
    store.release(renewed)


def test_a_commit_after_release_is_refused(make_store: StoreFactory):
    store = make_store()
    lease = store.acquire("job", "a", LONG_TTL_S)
    store.release(lease)
    with pytest.raises(LeaseLost):
        store.commit("job", {"bookmarks": {"s": 1}}, lease)
    assert store.get("job") == {}


def test_commit_merges_per_stream_and_drops_refreshed_streams(make_store: StoreFactory):
    store = make_store()
    store.set("job", {"bookmarks": {"a": 1, "b": 2, "c": 3}, "currently_syncing": "a"})
    assert store.location("job")
    lease = store.acquire("job", "a", LONG_TTL_S)
    merged = store.commit(
        "job", {"bookmarks": {"b": 20}, "currently_syncing": None}, lease, drop_streams={"c"}
    )
    assert merged == {"bookmarks": {"a": 1, "b": 20}, "currently_syncing": None}
    assert store.get("job") == merged
    store.release(lease)
    assert store.keys() == ["job"]
    assert store.clear("job") and store.get("job") == {}


def test_commit_merges_into_what_is_stored_now(make_store: StoreFactory):
    """A commit merges into the stored state, also when it changed since the last commit
    (an unfenced `glue state set`, say), not into what the committing store last wrote."""
    store = make_store()
    lease = store.acquire("job", "a", LONG_TTL_S)
    store.commit("job", {"bookmarks": {"s": 1}}, lease)
    make_store().set("job", {"bookmarks": {"x": 5}})
    assert store.commit("job", {"bookmarks": {"t": 1}}, lease) == {"bookmarks": {"x": 5, "t": 1}}
    assert make_store().get("job") == {"bookmarks": {"x": 5, "t": 1}}
    store.release(lease)


# == the committer holds the lease for a job ======================================================


def test_the_heartbeat_keeps_a_lease_past_its_ttl(make_store: StoreFactory):
    ttl = 2.0  # renewed every 0.05 s: only a thread starved for 2 s would let it lapse
    store = make_store(ttl)
    committer = StateCommitter(store, "job", heartbeat_s=0.05)
    with committer.locked():
        first = committer._keeper.lease if committer._keeper else None
        assert first is not None
        # Past the first grant's expiry: only the heartbeat's renewals keep the key.
        wait_until(lambda: time.time() > first.expires_at + 0.1, "the first ttl to pass")
        assert try_acquire(make_store(), "b") is None
        committer.commit({"bookmarks": {"s": 1}})
    assert make_store().get("job") == {"bookmarks": {"s": 1}}
    assert try_acquire(make_store(), "b") is not None  # released at the end


class StallingStore(FileStateStore):
    """A file store whose renewals block while ``stall`` is set: a holder that stopped
    renewing (a paused process) while the rest of it goes on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stall, self.stalled, self.resume = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )

    def renew(self, lease: Lease) -> Lease:
        if self.stall.is_set():
            self.stalled.set()
            self.resume.wait(WAIT_S)
        return super().renew(lease)


def test_a_committer_that_lost_its_lease_stops_committing(tmp_path: Path):
    store = StallingStore(tmp_path / "state", lease_ttl_s=SHORT_TTL_S)
    lost: list[LeaseLost] = []
    heard = threading.Event()

    def on_lost(exc: LeaseLost) -> None:
        lost.append(exc)
        heard.set()

    committer = StateCommitter(store, "job", on_lease_lost=on_lost)
    try:
        with committer.locked():
            committer.commit({"bookmarks": {"s": 1}})
            store.stall.set()
            assert store.stalled.wait(WAIT_S)
            other = FileStateStore(tmp_path / "state")
            new = take_over(other, "b")
            other.commit("job", {"bookmarks": {"t": 1}}, new)
            store.resume.set()  # the heartbeat's renewal now finds the key taken
            assert heard.wait(WAIT_S)
            with pytest.raises(LeaseLost):
                committer.commit({"bookmarks": {"s": 2}})
            with pytest.raises(LeaseLost):
                committer.write()  # nothing staged: still refused, the job must not pass
    finally:
        store.resume.set()
    assert len(lost) == 1 and "took the key over" in str(lost[0])
    assert other.get("job") == {"bookmarks": {"s": 1, "t": 1}}
    other.release(new)


class UnreachableStore(FileStateStore):
    """A store whose renewals fail without an answer (a database that went away)."""

    def renew(self, lease: Lease) -> Lease:
        raise StateError("connection refused")


def test_a_lease_that_cannot_be_renewed_for_its_ttl_is_lost(tmp_path: Path):
    store = UnreachableStore(tmp_path / "state", lease_ttl_s=SHORT_TTL_S)
    lost: list[LeaseLost] = []
    heard = threading.Event()
    keeper = LeaseKeeper(
        store, "job", heartbeat_s=SHORT_TTL_S / 6, on_lost=lambda e: (lost.append(e), heard.set())
    )
    with keeper:
        assert heard.wait(WAIT_S)
        with pytest.raises(LeaseLost, match=r"could not be renewed for 0.3 s.*connection refused"):
            keeper.check()
    assert len(lost) == 1


def test_a_joined_committer_commits_under_its_callers_lease(tmp_path: Path):
    """hold_lock=False (a batch job's phases): commits go through the caller's lease."""
    store = FileStateStore(tmp_path / "state", lease_ttl_s=SHORT_TTL_S)
    outer = StateCommitter(store, "job", heartbeat_s=LONG_TTL_S)  # no renewal in this test
    with outer.locked():
        inner = StateCommitter(store, "job")
        with inner.joined():
            inner.commit({"bookmarks": {"s": 1}})
            other = FileStateStore(tmp_path / "state")
            new = take_over(other, "b")
            with pytest.raises(LeaseLost):
                inner.commit({"bookmarks": {"s": 2}})
    assert other.get("job") == {"bookmarks": {"s": 1}}
    other.release(new)


# == real jobs ====================================================================================


def _line(msg: dict[str, Any]) -> list[Any]:
    return ["out", json.dumps(msg) + "\n"]


SCHEMA = {
    "type": "SCHEMA",
    "stream": "s",
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
    "key_properties": ["id"],
}


def _record(i: int) -> list[Any]:
    return _line({"type": "RECORD", "stream": "s", "record": {"id": i}})


def _state(i: int) -> list[Any]:
    return _line({"type": "STATE", "value": {"bookmarks": {"s": i}}})


def _job(tmp_path: Path, store: StateStore, steps: list[list[Any]]) -> JobSpec:
    return JobSpec(
        tap=Endpoint(resolve(REVIEW_TAP, "tap"), {"steps": steps}),
        targets=[Endpoint(resolve(REVIEW_TARGET, "target"), {"output": str(tmp_path / "out")})],
        store=store,
        state_key="job",
        state_write_interval_s=0,
    )


@pytest.mark.parametrize("noticed_by", ["commit", "heartbeat"])
def test_a_job_whose_lease_is_taken_over_fails_and_never_writes_after(
    tmp_path: Path, noticed_by: str
):
    go = tmp_path / "go"
    steps = [_line(SCHEMA), _record(1), _state(1), ["wait_file", str(go), "go", WAIT_S]]
    steps += [_record(2), _state(2)]
    store = StallingStore(tmp_path / "state", lease_ttl_s=SHORT_TTL_S)
    results: list[JobResult] = []
    job = threading.Thread(target=lambda: results.append(run_job(_job(tmp_path, store, steps))))
    job.start()
    other = FileStateStore(tmp_path / "state")
    try:
        wait_until(lambda: other.get("job") == {"bookmarks": {"s": 1}}, "the first commit")
        store.stall.set()  # the job stops renewing its lease ...
        assert store.stalled.wait(WAIT_S)
        new = take_over(other, "b")  # ... so another run takes the key once it expires
        other.commit("job", {"bookmarks": {"t": 7}}, new)
        if noticed_by == "heartbeat":
            store.resume.set()  # the next renewal is refused: the job stops its tap
        else:
            go.write_text("go")  # the tap sends STATE 2, the target confirms it: refused
        job.join(WAIT_S)
        assert not job.is_alive()
    finally:
        store.resume.set()
        go.write_text("go")
        job.join(WAIT_S)
    result = results[0]
    assert isinstance(result.error, LeaseLost), result.error
    assert result.exit_code == 5 and result.status == "failed"
    assert "took the key over" in str(result.error)
    assert other.get("job") == {"bookmarks": {"s": 1, "t": 7}}  # the job never wrote after
    if noticed_by == "commit":
        assert b'"s": 2' in (tmp_path / "out").read_bytes()  # STATE 2 reached the target
    other.release(new)


def test_a_killed_runs_key_is_free_for_the_next_run_at_once(tmp_path: Path):
    """SIGKILL leaves the lease record unexpired; the OS dropped the flock, so the next run
    takes the key without waiting for the (default, 60 s) ttl."""
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out")})
    never = str(tmp_path / "never")
    write_json(
        tmp_path / "tap1.json",
        {"steps": [_line(SCHEMA), _record(1), _state(1), ["wait_file", never, "x", 600]]},
    )
    write_json(tmp_path / "tap2.json", {"steps": [_line(SCHEMA), _record(2), _state(2)]})

    def argv(tap_config: str) -> list[str]:
        return [
            "run", "--tap", REVIEW_TAP, "--target", REVIEW_TARGET, "--tap-config", tap_config,
            "--target-config", "target.json", "--state-dir", "state", "--state-key", "job",
        ]  # fmt: skip

    first = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", *argv("tap1.json")],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        store = FileStateStore(tmp_path / "state")
        wait_until(lambda: store.get("job") == {"bookmarks": {"s": 1}}, "the first run's commit")
        assert try_acquire(store, "probe") is None  # the first run holds the key
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    record = json.loads((tmp_path / "state" / "job.json.lease").read_text())
    assert record["expires_at"] > time.time()  # its lease has not expired
    second = run_cli(*argv("tap2.json"), cwd=tmp_path)
    assert second.code == 0, second.stderr
    assert store.get("job") == {"bookmarks": {"s": 2}}


# == how the file store keeps leases ==============================================================


def _record_of(state_dir: Path) -> dict[str, Any]:
    return json.loads((state_dir / "job.json.lease").read_text())


def test_a_new_holder_takes_the_lock_file_once_the_old_holder_lets_go(tmp_path: Path):
    """After a takeover the old holder (alive, stalled) still has the flock; the new holder
    gets it at its first renewal after the old one let go, and from then on its own death
    frees the key at once."""
    first = FileStateStore(tmp_path / "state")
    second = FileStateStore(tmp_path / "state")
    old = first.acquire("job", "a", SHORT_TTL_S)
    new = take_over(second, "b")
    assert _record_of(tmp_path / "state")["flock_token"] == old.token
    assert second.renew(new).token == new.token  # the flock is still the old holder's
    assert _record_of(tmp_path / "state")["flock_token"] == old.token
    first.release(old)
    second.renew(new)
    assert _record_of(tmp_path / "state")["flock_token"] == new.token
    assert try_acquire(FileStateStore(tmp_path / "state"), "c") is None
    second.release(new)


def test_an_unreadable_lease_record_counts_as_none(tmp_path: Path):
    store = FileStateStore(tmp_path / "state")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "job.json.lease").write_text('{"owner": "a", "tok')  # a torn write
    lease = store.acquire("job", "a", LONG_TTL_S)
    store.commit("job", {"bookmarks": {"s": 1}}, lease)
    assert _record_of(tmp_path / "state")["owner"] == "a"
    store.release(lease)
    assert store.get("job") == {"bookmarks": {"s": 1}}
