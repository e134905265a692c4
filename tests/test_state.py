"""The state store: per-stream merge, atomic writes, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from glue_runtime.errors import StateError, StateLocked
from glue_runtime.state import (
    FileStateStore,
    SingleFileStateStore,
    StateCommitter,
    drop_bookmarks,
    merge_state,
)


def test_merge_replaces_streams_it_carries_and_keeps_others():
    base = {"bookmarks": {"a": {"id": 1, "old": True}, "b": {"id": 2}}, "currently_syncing": "a"}
    update = {"bookmarks": {"a": {"id": 5}}, "currently_syncing": None}
    assert merge_state(base, update) == {
        "bookmarks": {"a": {"id": 5}, "b": {"id": 2}},
        "currently_syncing": None,
    }
    assert base["bookmarks"]["a"] == {"id": 1, "old": True}  # inputs are not mutated


def test_merge_onto_empty_and_non_bookmark_state():
    assert merge_state({}, {"bookmarks": {"a": {"id": 1}}}) == {"bookmarks": {"a": {"id": 1}}}
    assert merge_state({"cursor": 1}, {"cursor": 2}) == {"cursor": 2}


def test_drop_bookmarks():
    state = {"bookmarks": {"a": {}, "b": {}}, "x": 1}
    assert drop_bookmarks(state, {"a"}) == {"bookmarks": {"b": {}}, "x": 1}


def test_store_set_get_clear_and_keys(tmp_path: Path):
    store = FileStateStore(tmp_path / "st")
    assert store.get("k") == {}
    store.set("acme:hubspot", {"bookmarks": {"a": 1}})
    store.set("demo", {})
    assert store.keys() == ["acme:hubspot", "demo"]
    assert store.get("acme:hubspot") == {"bookmarks": {"a": 1}}
    assert store.clear("demo") and not store.clear("demo")
    leftovers = [p.name for p in (tmp_path / "st").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # atomic writes leave no temp files behind


def test_invalid_key_and_corrupt_file_give_clear_errors(tmp_path: Path):
    store = FileStateStore(tmp_path)
    with pytest.raises(StateError, match="invalid state key"):
        store.get("../etc/passwd")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(StateError, match=r"bad\.json is not valid JSON"):
        store.get("bad")


def test_committer_full_refresh_drops_only_refreshed_streams(tmp_path: Path):
    store = SingleFileStateStore(tmp_path / "s.json")
    store.set("x", {"bookmarks": {"a": {"id": 9}, "b": {"id": 4}}})
    c = StateCommitter(store, "x")
    c.mark_full_refresh("a")
    c.commit({"bookmarks": {}})
    assert store.get("x") == {"bookmarks": {"b": {"id": 4}}}
    c.commit({"bookmarks": {"a": {"id": 1}}})
    assert store.get("x") == {"bookmarks": {"a": {"id": 1}, "b": {"id": 4}}}


def test_lock_is_exclusive_across_processes(tmp_path: Path):
    store = FileStateStore(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys
            from glue_runtime.state import FileStateStore
            with FileStateStore({str(tmp_path)!r}).lock("job"):
                print("locked", flush=True)
                sys.stdin.read()  # held until the test is done with it
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateLocked, match=f"pid {holder.pid}"):
            store.lock("job").acquire()
    finally:
        holder.kill()
        holder.wait()
    with store.lock("job"):  # the OS released the dead holder's lock
        pass


def test_atomic_write_survives_a_crash_mid_commit(tmp_path: Path):
    """A process killed while committing in a loop never leaves an invalid file."""
    path = tmp_path / "s.json"
    code = textwrap.dedent(f"""
        import os
        from glue_runtime.state import SingleFileStateStore
        s = SingleFileStateStore({str(path)!r})
        i = 0
        while True:
            i += 1
            s.set("k", {{"bookmarks": {{"a": {{"id": i, "pad": "x" * 50000}}}}}})
            if i == 20:
                print("go", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "go"
    os.kill(proc.pid, 9)
    proc.wait()
    value = json.loads(path.read_text())
    assert value["bookmarks"]["a"]["id"] >= 20


# == state file names ==========================================================================


def test_distinct_state_keys_map_to_distinct_files(tmp_path: Path):
    store = FileStateStore(tmp_path)
    assert store.path_for("acme:hubspot") != store.path_for("acme__hubspot")


def test_a_state_file_under_the_old_name_is_pointed_out_not_used(tmp_path: Path, caplog):
    (tmp_path / "acme__hubspot.json").write_text('{"bookmarks": {"s": 1}}')
    with caplog.at_level("WARNING", logger="glue_runtime.state"):
        assert FileStateStore(tmp_path).get("acme:hubspot") == {}
    assert "acme__hubspot.json exists" in caplog.text
    assert "acme%3Ahubspot.json" in caplog.text
