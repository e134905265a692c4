"""State stores: where a job's Singer STATE (its bookmarks) lives between runs.

The default store is a folder with one JSON file per state key. Each file holds the Singer state
value itself (``{"bookmarks": {...}}``), so any tap can read it with ``--state`` unchanged.

Three rules make it safe:

- writes are atomic: a temp file in the same folder, fsync, rename, fsync of the folder;
- bookmarks merge per stream: a commit replaces the bookmarks of the streams it carries and keeps
  the others, so a run over a subset of streams, or a full refresh, never drops other bookmarks;
- a lease per key (``glue_runtime.statestore``: owner, fencing token, expiry renewed by a
  heartbeat) stops two runs on the same key at once, with a clear error, and refuses the commits
  of a run that lost it. The file store keeps it with a lock file its holder keeps flocked and a
  lease record beside the state file (``glue_runtime.filelease``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import orjson

from glue_runtime.errors import LeaseLost, StateError
from glue_runtime.filelease import FileLeases, StateLock, real_path
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.statestore import (
    DEFAULT_LEASE_TTL_S,
    Lease,
    LeaseKeeper,
    StateStore,
    held_lease,
)

__all__ = [  # what other modules import from here (StateLock and real_path live in filelease)
    "DEFAULT_STATE_DIR",
    "FileStateStore",
    "SingleFileStateStore",
    "StateCommitter",
    "StateLock",
    "drop_bookmarks",
    "merge_state",
    "read_json",
    "real_path",
    "write_json_atomic",
]

log = logging.getLogger("glue_runtime.state")

DEFAULT_STATE_DIR = Path(".glue") / "state"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$")


def merge_state(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge a confirmed STATE into the stored one, per stream.

    ``bookmarks`` merge per stream (the update's stream entry replaces the stored one whole);
    every other top-level key (``currently_syncing``, a tap's own keys) takes the update's value.
    """
    if not isinstance(update, dict):
        return update
    merged = dict(base) if isinstance(base, dict) else {}
    for key, value in update.items():
        if key == "bookmarks" and isinstance(value, dict):
            old = merged.get("bookmarks")
            bookmarks = dict(old) if isinstance(old, dict) else {}
            bookmarks.update(value)
            merged["bookmarks"] = bookmarks
        else:
            merged[key] = value
    return merged


def drop_bookmarks(state: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """Return ``state`` without the bookmarks of ``streams`` (for a full refresh of them)."""
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict):
        return state
    kept = {k: v for k, v in bookmarks.items() if k not in streams}
    return {**state, "bookmarks": kept}


def write_json_atomic(path: Path, value: Any) -> os.stat_result:
    """Write JSON to ``path`` so a reader sees the old file or the new one, never half of one.

    A symlink is followed: the file it points to is replaced and the link stays (renaming a
    temp file over the link itself would turn it into a plain file and leave the real one old).
    Returns the new file's stat (its inode and times stay the same through the rename).
    """
    path = real_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dumps_exact(value, orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            written = os.fstat(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return written


def _file_version(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What changes whenever a state file is replaced: a write makes a new inode."""
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


class _UnreadableStateFile(StateError):
    """The state file exists but cannot be read (a folder in its place, its permissions)."""


def read_json(path: Path) -> Any:
    """Read a JSON state file, with an error that names it when it is not valid JSON."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _UnreadableStateFile(f"cannot read state file {path}: {exc.strerror}") from None
    if not data.strip():
        return None
    try:
        value = loads_exact(data)  # bookmarks over 64 bits stay exact
        dumps_exact(value)  # it must also be writable back (nesting the writer refuses)
    except ValueError as exc:  # JSONDecodeError, bytes that are not UTF-8, NestedTooDeep
        raise StateError(
            f"state file {path} is not valid JSON ({exc})",
            hint=_FIX_STATE_FILE,
        ) from None
    return value


_FIX_STATE_FILE = (
    "fix or remove it (`glue state clear`), or set a known-good state with `glue state set`"
)


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return kinds.get(type(value), type(value).__name__)


class FileStateStore:
    """State kept as JSON files: one per key in a folder, or one explicit file.

    Implements :class:`~glue_runtime.statestore.StateStore`; its leases are in
    ``glue_runtime.filelease``. ``lease_ttl_s``: how long a run's lease outlives its last
    renewal (runs renew every third of it); only a run that stops renewing while alive (a
    paused process, a machine asleep) loses its key after it, as a dead run's flock is dropped
    by the OS at once.
    """

    def __init__(
        self, directory: Path | str = DEFAULT_STATE_DIR, *, lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    ) -> None:
        self.directory = Path(directory)
        self.lease_ttl_s = lease_ttl_s
        self._leases = FileLeases()
        self._last_commit: dict[str, tuple[tuple[int, int, int, int], dict[str, Any]]] = {}

    def path_for(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise StateError(
                f"invalid state key {key!r}",
                hint="use letters, digits and . _ - @ : (for example 'demo' or 'acme:hubspot')",
            )
        # ':' is spelled %3A in the file name ('%' cannot appear in a key, so names never
        # collide: 'a:b' and 'a__b' are two files).
        return self.directory / f"{key.replace(':', '%3A')}.json"

    def keys(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p.stem.replace("%3A", ":")
            for p in self.directory.glob("*.json")
            if not p.name.startswith(".")
        )

    def get(self, key: str) -> dict[str, Any]:
        path = self.path_for(key)
        value = read_json(path)
        if value is None:
            if ":" in key:
                self._warn_of_old_name(key, path)
            return {}
        if not isinstance(value, dict):
            # A tap must never get this as its state: Singer state is an object.
            raise StateError(
                f"state file {path} holds a JSON {_json_kind(value)}, not an object: a Singer "
                'state is an object such as {"bookmarks": {...}}',
                hint=_FIX_STATE_FILE,
            )
        return value

    def _warn_of_old_name(self, key: str, path: Path) -> None:
        """Earlier builds spelled ':' as '__'; such a file is not used, as it may be another key."""
        old = self.directory / f"{key.replace(':', '__')}.json"
        if old.exists() and path.parent == old.parent:  # a store of one file per key
            log.warning(
                "state key %r has no file %s, but %s exists: earlier versions named it so. "
                "If it holds this key's state, rename it (mv %s %s); this run starts without "
                "a bookmark",
                key,
                path.name,
                old.name,
                shlex.quote(str(old)),
                shlex.quote(str(path)),
            )

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._write(key, value)

    def _write(self, key: str, value: dict[str, Any]) -> os.stat_result:
        if not isinstance(value, dict):
            raise StateError(f"state for {key!r} must be a JSON object, got {type(value).__name__}")
        path = self.path_for(key)
        try:
            return write_json_atomic(path, value)
        except OSError as exc:
            raise StateError(
                f"cannot write state file {path}: {exc.strerror or exc}",
                hint="check that its folder exists and is writable and the disk has room; "
                "the file still holds the last state written before this error",
            ) from None

    def clear(self, key: str) -> bool:
        path = self.path_for(key)
        try:
            real_path(path).unlink()  # through a symlink: the state goes, the link stays
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StateError(
                f"cannot remove state file {path}: {exc.strerror or exc}",
                hint="check that its folder is writable",
            ) from None
        return True

    def lock(self, key: str) -> LeaseKeeper:
        """A lease on ``key`` held with a heartbeat, as a context manager (`glue state set`)."""
        return LeaseKeeper(self, key)

    def location(self, key: str) -> str:
        return str(self.path_for(key))

    # -- leases (see glue_runtime.statestore for the contract) -----------------------------
    def acquire(self, key: str, owner: str, ttl_s: float) -> Lease:
        return self._leases.acquire(self.path_for(key), key, owner, ttl_s)

    def renew(self, lease: Lease) -> Lease:
        return self._leases.renew(self.path_for(lease.key), lease)

    def release(self, lease: Lease) -> None:
        self._last_commit.pop(lease.key, None)
        self._leases.release(self.path_for(lease.key), lease)

    def commit(
        self,
        key: str,
        update: dict[str, Any],
        lease: Lease,
        *,
        drop_streams: Collection[str] = (),
    ) -> dict[str, Any]:
        with self._leases.fenced(self.path_for(key), lease):
            stored = self._stored(key)
            if drop_streams:
                stored = drop_bookmarks(stored, set(drop_streams))
            merged = merge_state(stored, update)
            written = self._write(key, merged)
            self._last_commit[key] = (_file_version(written), merged)
        return merged

    def _stored(self, key: str) -> dict[str, Any]:
        """The stored state a commit merges into: what this store last committed when the file
        is still that version (a job's commits skip re-reading a big state), else read."""
        last = self._last_commit.pop(key, None)
        try:
            version = _file_version(os.stat(self.path_for(key)))
        except OSError:
            version = None
        if last is not None and last[0] == version:
            return last[1]
        try:
            return self.get(key)
        except _UnreadableStateFile:
            # The write says what is wrong (as a plain write did); a committer's update holds
            # every bookmark it knows, so nothing it read is lost.
            return {}


class SingleFileStateStore(FileStateStore):
    """A store of exactly one key backed by a file the user named (``--state-file``)."""

    def __init__(self, path: Path | str, *, lease_ttl_s: float = DEFAULT_LEASE_TTL_S) -> None:
        self.file = Path(path)
        super().__init__(self.file.parent, lease_ttl_s=lease_ttl_s)

    def path_for(self, key: str) -> Path:
        return self.file

    def keys(self) -> list[str]:
        return [self.file.stem] if self.file.exists() else []


class StateCommitter:
    """Holds one job's view of its state: the base it started from and what it has committed.

    The runner stages each STATE value every target has confirmed and writes the newest at
    most once per interval, and at the end: a tap emitting a STATE per record must not cost
    two fsyncs per record.

    Inside :meth:`locked` the committer holds the key's lease (a :class:`LeaseKeeper`
    renewing it every ``heartbeat_s``) and every write is a fenced ``store.commit``; once the
    lease is lost, writes raise LeaseLost and ``on_lease_lost`` hears of it at once. Inside
    :meth:`joined` it commits under the lease its caller holds in this process (a batch job's
    phases). Outside both it writes with ``store.set``, unfenced (tests, dry runs).
    """

    def __init__(
        self,
        store: StateStore,
        key: str,
        *,
        full_refresh_streams: set[str] | None = None,
        dry_run: bool = False,
        owner: str | None = None,
        lease_ttl_s: float | None = None,
        heartbeat_s: float | None = None,
        on_lease_lost: Callable[[LeaseLost], None] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.base = store.get(key)
        self.current = self.base
        self.commits = 0
        self._staged: dict[str, Any] | None = None  # merged, not yet written
        self._dropped: set[str] = set()  # streams whose bookmarks the staged state drops
        self._refresh = set(full_refresh_streams or ())
        self._dry_run = dry_run
        self._owner, self._ttl_s, self._heartbeat_s = owner, lease_ttl_s, heartbeat_s
        self._on_lease_lost = on_lease_lost
        self._keeper: LeaseKeeper | None = None

    def mark_full_refresh(self, stream: str) -> None:
        """Drop this stream's stored bookmark at the next commit (it is being re-read whole)."""
        self._refresh.add(stream)

    def commit(self, value: dict[str, Any]) -> None:
        """Merge and write one confirmed state; on a write error nothing on disk changes."""
        self.stage(value)
        self.write()

    def stage(self, value: dict[str, Any]) -> None:
        """Merge one confirmed state in memory; :meth:`write` puts it on disk."""
        latest = self._staged if self._staged is not None else self.current
        merged = drop_bookmarks(latest, self._refresh) if self._refresh else latest
        self._staged = merge_state(merged, value)
        self._dropped |= self._refresh
        self._refresh.clear()

    def write(self) -> None:
        """Write the staged state, if any (raises StateError; it stays staged then).

        Under a lease that was lost it raises LeaseLost even with nothing staged: the job
        must not end as if its state were safe.
        """
        keeper = self._keeper
        lease = keeper.check() if keeper is not None else None
        staged = self._staged
        if staged is None:
            return
        if self._dry_run:
            pass
        elif lease is None:
            self.store.set(self.key, staged)
        else:
            assert keeper is not None
            try:
                staged = self.store.commit(self.key, staged, lease, drop_streams=self._dropped)
            except LeaseLost as exc:
                keeper.mark_lost(exc, notify=False)  # the caller handles what it raises
                raise
        self.current = staged
        self._staged = None
        self._dropped = set()
        self.commits += 1

    @contextlib.contextmanager
    def locked(self) -> Iterator[StateCommitter]:
        """Hold the key's lease (with its heartbeat) while the body runs; release it after."""
        keeper = LeaseKeeper(
            self.store,
            self.key,
            owner=self._owner,
            ttl_s=self._ttl_s,
            heartbeat_s=self._heartbeat_s,
            on_lost=self._on_lease_lost,
        )
        with keeper:
            # Re-read under the lease: another run may have committed since we were built.
            self.base = self.current = self.store.get(self.key)
            self._keeper = keeper
            try:
                yield self
            finally:
                self._keeper = None

    @contextlib.contextmanager
    def joined(self) -> Iterator[StateCommitter]:
        """Commit under the lease a caller in this process holds on the same store and key
        (``hold_lock=False``); with none held, writes are unfenced, as they always were."""
        keeper = held_lease(self.store, self.key)
        if keeper is None:
            yield self
            return
        keeper.check()  # a lease already lost: fail before anything runs
        if self._on_lease_lost is not None:
            keeper.add_listener(self._on_lease_lost)
        self._keeper = keeper
        try:
            yield self
        finally:
            self._keeper = None
            if self._on_lease_lost is not None:
                keeper.remove_listener(self._on_lease_lost)
