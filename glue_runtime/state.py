"""State stores: where a job's Singer STATE (its bookmarks) lives between runs.

The default store is a folder with one JSON file per state key. Each file holds the Singer state
value itself (``{"bookmarks": {...}}``), so any tap can read it with ``--state`` unchanged.

Three rules make it safe:

- writes are atomic: a temp file in the same folder, fsync, rename, fsync of the folder;
- bookmarks merge per stream: a commit replaces the bookmarks of the streams it carries and keeps
  the others, so a run over a subset of streams, or a full refresh, never drops other bookmarks;
- a lock file (``fcntl.flock``) stops two runs on the same key at once, with a clear error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from glue_runtime.errors import StateError, StateLocked
from glue_runtime.protocol import dumps_exact, loads_exact

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


def real_path(path: Path | str) -> Path:
    """The file a path names once symlinks are followed (absolute).

    A symlink loop is an OSError (ELOOP) on every Python version, so callers handle it as the
    other file system errors (3.11 and 3.12 raise RuntimeError).
    """
    try:
        return Path(path).resolve()
    except RuntimeError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to ``path`` so a reader sees the old file or the new one, never half of one.

    A symlink is followed: the file it points to is replaced and the link stays (renaming a
    temp file over the link itself would turn it into a plain file and leave the real one old).
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


def read_json(path: Path) -> Any:
    """Read a JSON state file, with an error that names it when it is not valid JSON."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read state file {path}: {exc.strerror}") from None
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


class StateLock:
    """An exclusive, non-blocking lock on one state file, released when the holder exits."""

    def __init__(self, path: Path, key: str) -> None:
        # Named after the real file: a run through a symlink and a run on the file it points
        # to must take the same lock.
        try:
            real = real_path(path)
        except OSError:  # a symlink loop: acquire() names it
            real = Path(path)
        self.path = real.with_name(real.name + ".lock")
        self.key = key
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._cannot_lock(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateLocked(
                f"another run holds the lock on state key {self.key!r} (pid {holder}, "
                f"lock file {self.path})",
                hint="wait for that run to finish; two runs on one key would overwrite "
                "each other's bookmarks",
            ) from None
        except OSError as exc:  # a file system without locks, say
            os.close(fd)
            raise self._cannot_lock(exc) from None
        try:  # the holder's pid, for the error another run gets; the lock holds without it
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as exc:
            log.warning("could not write the pid into lock file %s: %s", self.path, exc.strerror)
        self._fd = fd

    def _cannot_lock(self, exc: OSError) -> StateError:
        """The error for a lock file that cannot be created or locked, with what to do."""
        if isinstance(exc, IsADirectoryError) or self.path.is_dir():
            what = "the lock path is a folder"
            hint = f"remove the folder {self.path} (runs create this lock file themselves)"
        elif isinstance(exc, NotADirectoryError):
            what = "a part of its folder's path is a file, not a folder"
            hint = "give a state file or state folder whose parent folders are folders"
        elif exc.errno == errno.ENOSPC:
            what = "the disk is full"
            hint = "free some space on that disk, then run again"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            what = "the folder is read-only or not writable by this user"
            hint = (
                "make the state folder writable by this user (check its permissions, and "
                "that the disk is not mounted read-only), or use --state-dir / --state-file "
                "somewhere writable"
            )
        else:
            what = exc.strerror or str(exc)
            hint = "check that the state folder exists and is writable and the disk has room"
        return StateError(
            f"cannot lock state key {self.key!r} with lock file {self.path}: {what} "
            f"({exc.strerror or exc})",
            hint=hint,
        )

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileStateStore:
    """State kept as JSON files: one per key in a folder, or one explicit file."""

    def __init__(self, directory: Path | str = DEFAULT_STATE_DIR) -> None:
        self.directory = Path(directory)

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
        if not isinstance(value, dict):
            raise StateError(f"state for {key!r} must be a JSON object, got {type(value).__name__}")
        path = self.path_for(key)
        try:
            write_json_atomic(path, value)
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

    def lock(self, key: str) -> StateLock:
        return StateLock(self.path_for(key), key)

    def location(self, key: str) -> str:
        return str(self.path_for(key))


class SingleFileStateStore(FileStateStore):
    """A store of exactly one key backed by a file the user named (``--state-file``)."""

    def __init__(self, path: Path | str) -> None:
        self.file = Path(path)
        super().__init__(self.file.parent)

    def path_for(self, key: str) -> Path:
        return self.file

    def keys(self) -> list[str]:
        return [self.file.stem] if self.file.exists() else []


class StateCommitter:
    """Holds one job's view of its state: the base it started from and what it has committed.

    The runner stages each STATE value every target has confirmed and writes the newest at
    most once per interval, and at the end: a tap emitting a STATE per record must not cost
    two fsyncs per record.
    """

    def __init__(
        self,
        store: FileStateStore,
        key: str,
        *,
        full_refresh_streams: set[str] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.key = key
        self.base = store.get(key)
        self.current = self.base
        self.commits = 0
        self._staged: dict[str, Any] | None = None  # merged, not yet written
        self._refresh = set(full_refresh_streams or ())
        self._dry_run = dry_run

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
        self._refresh.clear()

    def write(self) -> None:
        """Write the staged state, if any (raises StateError; it stays staged then)."""
        staged = self._staged
        if staged is None:
            return
        if not self._dry_run:
            self.store.set(self.key, staged)
        self.current = staged
        self._staged = None
        self.commits += 1

    @contextlib.contextmanager
    def locked(self) -> Iterator[StateCommitter]:
        with self.store.lock(self.key):
            # Re-read under the lock: another run may have committed since we were built.
            self.base = self.current = self.store.get(self.key)
            yield self
