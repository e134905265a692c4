"""The file store's leases: a lock file a live holder keeps flocked, and a lease record.

Beside each state file ``S`` (its real file, when ``S`` is a symlink):

- ``S.lock``: the holder keeps an exclusive ``flock`` on it for its whole lease, as runs always
  have (it holds the holder's pid). The OS drops the flock when the holder exits or dies, so a
  killed run's key is free for the next run at once, without waiting for the lease to expire.
- ``S.lease``: the lease record (JSON: owner, fencing token, expiry, whether the current
  holder has the flock). Every lease operation and every commit runs under a short flock on
  this file, so reading the record, deciding, and writing the record (or the state) is one
  step no other process or thread can split.

The rules (docs/architecture.md, "State stores and leases"): a live lease is refused to other
owners;
a lease not renewed within its ttl may be taken over by another owner even while its holder
lives (a paused process, a machine asleep), with a higher token and without the flock, which
the old holder still has; the old holder's renewals and commits are refused from then on.
When the record cannot be written (a full disk), a holder of the flock keeps a lease that
is the flock alone: it cannot be taken over while the holder lives, as before leases.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

from glue_runtime.errors import LeaseLost, StateError, StateLocked
from glue_runtime.statestore import Lease

log = logging.getLogger("glue_runtime.state")

_RECORD_BYTES = 1024  # records are written padded to this size, in place
_HOST = socket.gethostname()


def real_path(path: Path | str) -> Path:
    """The file a path names once symlinks are followed (absolute).

    A symlink loop is an OSError (ELOOP) on every Python version, so callers handle it as the
    other file system errors (3.11 and 3.12 raise RuntimeError).
    """
    try:
        return Path(path).resolve()
    except RuntimeError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None


class StateLock:
    """An exclusive, non-blocking flock on one state file's lock file, held by a live process.

    The OS drops it when the holder exits or dies, which is how the file store knows a lease
    holder is gone without waiting for its lease to expire.
    """

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

    def try_acquire(self) -> bool:
        """Take the flock if no live process holds it (False then); StateError if it cannot be
        created or locked at all."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _cannot_lock(self.key, self.path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:  # a file system without locks, say
            os.close(fd)
            raise _cannot_lock(self.key, self.path, exc) from None
        self._fd = fd
        return True

    def write_pid(self) -> None:
        """The holder's pid, for the error another run gets; the lock holds without it."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, str(os.getpid()).encode(), 0)
        except OSError as exc:
            log.warning("could not write the pid into lock file %s: %s", self.path, exc.strerror)

    def holder(self) -> str:
        """The pid the holder wrote into the lock file ("unknown" without one)."""
        try:
            with open(self.path, "rb") as fh:
                return fh.read(64).decode(errors="replace").strip() or "unknown"
        except OSError:
            return "unknown"

    def locked_error(self, holder: str) -> StateLocked:
        return StateLocked(
            f"another run holds the lock on state key {self.key!r} (pid {holder}, "
            f"lock file {self.path})",
            hint="wait for that run to finish; two runs on one key would overwrite "
            "each other's bookmarks",
        )

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _cannot_lock(key: str, path: Path, exc: OSError) -> StateError:
    """The error for a lock or lease file that cannot be created or locked, with what to do."""
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        what = "the lock path is a folder"
        hint = f"remove the folder {path} (runs create this lock file themselves)"
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
        f"cannot lock state key {key!r} with lock file {path}: {what} ({exc.strerror or exc})",
        hint=hint,
    )


@dataclass
class LeaseRecord:
    """What ``S.lease`` holds: the key's current lease, and who holds the lock file's flock.

    ``flock_token`` is the token of the lease whose holder has the flock (None: nobody known).
    It differs from ``token`` after a takeover: the old holder, alive but stalled, still has
    the flock, and the new holder has none until the old one lets go.
    """

    owner: str
    token: int
    expires_at: float
    released: bool = False
    flock_token: int | None = None
    pid: int = 0
    host: str = ""


class _RecordFile:
    """``S.lease`` under an exclusive flock, for one read-decide-write step."""

    def __init__(self, path: Path, key: str, fd: int) -> None:
        self.path, self.key, self._fd = path, key, fd

    def read(self) -> LeaseRecord | None:
        data = os.pread(self._fd, 1 << 16, 0).strip()
        if not data:
            return None
        try:
            raw = orjson.loads(data)
            return LeaseRecord(**raw)
        except (ValueError, TypeError) as exc:
            # Only a crash mid-write leaves this; without a record the flock holder owns the
            # key, so no stale holder can commit on the strength of it.
            log.warning("lease record %s is unreadable (%s); it is rewritten", self.path, exc)
            return None

    def write(self, record: LeaseRecord, *, may_fail: bool) -> None:
        """Write the record in place; with ``may_fail``, an error is a warning (see the module)."""
        data = orjson.dumps(asdict(record)).ljust(_RECORD_BYTES) + b"\n"
        try:
            os.pwrite(self._fd, data, 0)
        except OSError as exc:
            if not may_fail:
                raise _cannot_lock(self.key, self.path, exc) from None
            log.warning(
                "could not write lease record %s (%s); until it can be written, the lease on "
                "state key %r is the lock file's flock alone",
                self.path,
                exc.strerror,
                self.key,
            )


# The lock files this process holds flocked, by (lock file, owner, token) of the lease.
_flocks: dict[tuple[str, str, int], StateLock] = {}
_flocks_lock = threading.Lock()


def _flock_id(lock: StateLock, owner: str, token: int) -> tuple[str, str, int]:
    return (str(lock.path), owner, token)


class FileLeases:
    """Acquire, renew, release and fence leases on state files (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    @contextlib.contextmanager
    def _record(self, lock: StateLock) -> Iterator[_RecordFile]:
        path = lock.path.with_name(lock.path.name.removesuffix(".lock") + ".lease")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _cannot_lock(lock.key, path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # held for one step only: worth waiting for
            except OSError as exc:
                raise _cannot_lock(lock.key, path, exc) from None
            yield _RecordFile(path, lock.key, fd)
        finally:
            os.close(fd)

    def acquire(self, state_path: Path, key: str, owner: str, ttl_s: float) -> Lease:
        lock = StateLock(state_path, key)
        held = lock.try_acquire()
        try:
            with self._record(lock) as rf:
                old = rf.read()
                now = self.clock()
                if not _may_take(old, held, now):
                    raise lock.locked_error(str(old.pid) if old and old.pid else lock.holder())
                token = (old.token if old else 0) + 1
                record = LeaseRecord(
                    owner=owner,
                    token=token,
                    expires_at=now + ttl_s,
                    flock_token=token if held else (old.flock_token if old else None),
                    pid=os.getpid(),
                    host=_HOST,
                )
                rf.write(record, may_fail=held)
        except BaseException:
            lock.release()
            raise
        if held:
            lock.write_pid()
            with _flocks_lock:
                _flocks[_flock_id(lock, owner, token)] = lock
        if old is not None and not old.released and old.expires_at <= now:
            log.warning(
                "state key %r: took over the lease of %s (pid %s), which expired %.1f s ago "
                "without a renewal; its commits are refused from now on",
                key,
                old.owner,
                old.pid,
                now - old.expires_at,
            )
        return Lease(key=key, owner=owner, token=token, expires_at=record.expires_at, ttl_s=ttl_s)

    def renew(self, state_path: Path, lease: Lease) -> Lease:
        lock = StateLock(state_path, lease.key)
        with self._record(lock) as rf:
            record = rf.read()
            flock = _held_flock(lock, lease)
            _check_current(record, lease, flock is not None)
            expires_at = self.clock() + lease.ttl_s
            flock_token = record.flock_token if record else lease.token
            # A lease taken over without the flock takes it once the old holder lets go (not
            # one that had it: that one is being released, and must not get it back).
            took_over = record is not None and record.flock_token != lease.token
            if flock is None and took_over and lock.try_acquire():
                lock.write_pid()
                with _flocks_lock:
                    _flocks[_flock_id(lock, lease.owner, lease.token)] = flock = lock
                flock_token = lease.token
            renewed = LeaseRecord(
                owner=lease.owner,
                token=lease.token,
                expires_at=expires_at,
                flock_token=flock_token,
                pid=os.getpid(),
                host=_HOST,
            )
            rf.write(renewed, may_fail=flock is not None)
        return replace(lease, expires_at=expires_at)

    @contextlib.contextmanager
    def fenced(self, state_path: Path, lease: Lease) -> Iterator[None]:
        """Run the body (a commit) only while ``lease`` is current, with no takeover meanwhile."""
        lock = StateLock(state_path, lease.key)
        with self._record(lock) as rf:
            _check_current(rf.read(), lease, _held_flock(lock, lease) is not None)
            yield

    def release(self, state_path: Path, lease: Lease) -> None:
        lock = StateLock(state_path, lease.key)
        with _flocks_lock:
            flock = _flocks.pop(_flock_id(lock, lease.owner, lease.token), None)
        if flock is not None:
            flock.release()  # first: a run waiting for the key may start at once
        with self._record(lock) as rf:
            record = rf.read()
            if record is None:
                return
            changed = False
            if record.token == lease.token and record.owner == lease.owner:
                changed, record.released = not record.released, True
            if flock is not None and record.flock_token == lease.token:
                changed, record.flock_token = True, None
            if changed:
                rf.write(record, may_fail=True)


def _may_take(old: LeaseRecord | None, held: bool, now: float) -> bool:
    """May a new owner take the key, given its record and whether the new owner got the flock?"""
    if old is None:  # no record (or an unreadable one): the flock holder, if any, owns the key
        return held
    live = not old.released and old.expires_at > now
    if held:  # a live lease whose holder had the flock we now hold is a dead holder's
        return not live or old.flock_token == old.token
    # Someone alive holds the flock: take over only an expired lease, and only when the record
    # knows who holds the flock (an unknown holder may be a run that has not written one yet).
    return not live and old.flock_token is not None


def _held_flock(lock: StateLock, lease: Lease) -> StateLock | None:
    with _flocks_lock:
        return _flocks.get(_flock_id(lock, lease.owner, lease.token))


def _check_current(record: LeaseRecord | None, lease: Lease, has_flock: bool) -> None:
    """LeaseLost unless ``lease`` is the key's current lease."""
    if record is None:
        if has_flock:
            return  # a lease that is the flock alone (its record could not be written)
        why = "its lease record is gone and this run does not hold the lock file"
    elif record.token != lease.token or record.owner != lease.owner:
        why = (
            f"{record.owner} (pid {record.pid}) took the key over with fencing token "
            f"{record.token} (this run had {lease.token})"
        )
    elif record.released:
        why = "the lease was released"
    else:
        return
    raise LeaseLost(
        f"this run lost its lease on state key {lease.key!r}: {why}; it commits nothing more",
        hint=f"a run's lease expires when it is not renewed for {lease.ttl_s:g} s (a paused "
        "process, a machine asleep) and another run may then take the key; the state holds "
        "what the new holder committed, and the next run resumes from it",
    )
