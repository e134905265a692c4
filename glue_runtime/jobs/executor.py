"""The embedded executor: runs the store's queued jobs as child processes, N at a time.

``glue serve`` runs it in the background and ``glue jobs work`` in the foreground. Each job
runs as ``python -m glue_runtime jobs exec JOB_ID``: crash isolation, real parallelism, and a
cancel is SIGTERM, which drains a job exactly as Ctrl-C does. The child claims the job
(queued -> running), heartbeats and records its end; this executor only chooses which queued
job runs next, watches its children, and records the end of one that died without recording
it. :class:`Executor` is the interface another executor (a Celery worker) implements.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from glue_runtime.jobs import pick, recovery, retention
from glue_runtime.jobs.model import Job
from glue_runtime.jobs.records import to_job
from glue_runtime.jobs.settings import JobSettings, job_settings
from glue_runtime.jobs.tables import jobs

if TYPE_CHECKING:
    from glue_runtime.service.context import ServiceContext

log = logging.getLogger("glue_runtime.executor")

PR_SET_PDEATHSIG = 1
KILL_AFTER_S = 60.0  # after SIGTERM, how long a draining job has before SIGKILL
PURGE_EVERY_S = 3600.0  # how often a running executor deletes jobs past jobs.retention
EXIT_NOT_CLAIMED = 75  # `glue jobs exec`: the job was not queued any more, or its link was busy
_GIVE_UP_SPAWNS = 3  # children that exited without claiming a job before it is failed


class Executor(Protocol):
    """What runs queued jobs for a server: started and stopped with it, woken on a new job."""

    def start(self) -> None:
        """Start running queued jobs (returns at once)."""

    def stop(self, grace_s: float) -> None:
        """Take no new job, let running ones finish for ``grace_s``, then drain them."""

    def notify(self) -> None:
        """A job was queued: look now rather than at the next poll."""


Command = Callable[[str], Sequence[str]]


def jobs_exec_command(root: str, heartbeat_s: float) -> Command:
    """The child's command line for a job: ``glue jobs exec`` in this interpreter."""

    def command(job_id: str) -> list[str]:
        return [
            *(sys.executable, "-m", "glue_runtime", "--workspace", root),
            *("jobs", "exec", "--heartbeat", f"{heartbeat_s:g}", "--", job_id),
        ]

    return command


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies (so jobs drain
    when the server is killed); None where there is no prctl. libc is loaded here, before the
    fork, so the child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call: act as if just after
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


@dataclass
class Child:
    """A job's child process, as this executor watches it."""

    job_id: str
    key: str
    tenant: str
    connector: str
    proc: subprocess.Popen[bytes]
    started: float
    term_sent: float | None = None  # when SIGTERM was sent (cancel or drain)
    cancel_seen: float | None = None  # when this executor saw the job's cancel request
    killed: bool = False


class EmbeddedExecutor:
    """Runs queued jobs of one workspace as child processes (see the module's docstring).

    Every decision reads ``ctx.now()`` (tests drive a clock and call :meth:`poll_once`);
    :meth:`start` runs the same rounds in a thread of its own every ``poll_interval``.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        settings: JobSettings | None = None,
        concurrency: int | None = None,
        command: Command | None = None,
        env: dict[str, str] | None = None,
        kill_after_s: float = KILL_AFTER_S,
    ) -> None:
        self.ctx = ctx
        self.store = ctx.opened.store
        self.settings = settings or job_settings(ctx.opened.workspace)
        self.concurrency = concurrency or self.settings.concurrency
        self.command = command or jobs_exec_command(
            str(ctx.opened.workspace.root), self.settings.heartbeat_s
        )
        self.env = env
        self.kill_after_s = kill_after_s
        self.children: dict[str, Child] = {}
        self.me = pick.executor_id()  # the worker value of this executor's reservations
        self.rounds = 0  # rounds done (tests wait for the first)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._paused = False
        self._draining = False
        self._grace_until: float | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._next_recovery = 0.0
        self._next_purge = 0.0
        self._recovered_at_start = False
        self._no_claim: dict[str, int] = {}  # job id -> children that exited without claiming
        self._preexec = _parent_death_signal()

    # -- the interface -------------------------------------------------------------------------
    def start(self) -> None:
        """Recover what a previous run left, then run rounds in a thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stopped.clear()
        self._draining = False
        self._grace_until = None
        self._thread = threading.Thread(target=self._loop, name="glue-executor", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def pause(self) -> None:
        """Start no new job (running ones go on); queued jobs wait in the store."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused

    def stop(self, grace_s: float) -> None:
        """Drain: start no new job, let running ones finish for ``grace_s`` seconds, then SIGTERM
        them (they drain as Ctrl-C does and record ``interrupted``), SIGKILL those still running
        ``kill_after_s`` later. Queued jobs stay queued for the next start. Returns when every
        child has exited."""
        with self._lock:
            self._draining = True
            self._grace_until = time.monotonic() + max(grace_s, 0.0)
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:  # rounds were driven by hand (tests): drain from here
            self._drain_here()
        with contextlib.suppress(Exception):  # the store is away: they go void after stale_after
            pick.release(self.store, me=self.me)
        self._stopped.set()

    def end_grace(self) -> None:
        """While draining: stop the running jobs now (a second Ctrl-C)."""
        with self._lock:
            if self._draining:
                self._grace_until = time.monotonic()
        self._wake.set()

    # -- one round -----------------------------------------------------------------------------
    def poll_once(self) -> list[str]:
        """One round: reap children, pass on cancels, recover stale jobs when due, start what
        the limits allow. The ids of the jobs started this round."""
        with self._lock:
            self.reap()
            self._pass_on_cancels()
            self._recover_if_due()
            self._purge_if_due()
            started = [] if self._paused or self._draining else self._start_jobs()
            self.rounds += 1
            return started

    def running(self) -> list[str]:
        """Ids of the jobs whose child is still running here."""
        with self._lock:
            return list(self.children)

    def _loop(self) -> None:
        # Children are started from this thread: PR_SET_PDEATHSIG fires when the thread that
        # started them ends, so it lives until every child has exited.
        try:
            while not self._draining:
                try:
                    self.poll_once()
                except Exception:  # a store hiccup must not end the executor
                    log.exception("executor round failed; trying again")
                self._wake.wait(self.settings.poll_interval_s)
                self._wake.clear()
            self._drain_here()
        finally:
            self._stopped.set()

    def _drain_here(self) -> None:
        """Wait for the children, SIGTERM them when the grace period ends, SIGKILL later."""
        tick = min(self.settings.poll_interval_s, 0.2)
        while True:
            with self._lock:
                try:
                    self.reap()
                    self._pass_on_cancels()
                except Exception:  # the store is away: keep watching the children regardless
                    log.exception("executor: recording a job's end failed while draining")
                if not self.children:
                    return
                now = time.monotonic()
                if self._grace_until is not None and now >= self._grace_until:
                    self._terminate_all(now)
            self._wake.wait(tick)
            self._wake.clear()

    def _terminate_all(self, now: float) -> None:
        for child in self.children.values():
            if child.term_sent is None:
                log.warning("job %s: grace period over, stopping it (SIGTERM)", child.job_id)
                self._signal(child, signal.SIGTERM)
                child.term_sent = now
            elif not child.killed and now - child.term_sent >= self.kill_after_s:
                log.error("job %s still runs after SIGTERM: killing it", child.job_id)
                self._kill(child)

    # -- starting jobs -------------------------------------------------------------------------
    def _start_jobs(self) -> list[str]:
        free = self.concurrency - len(self.children)
        if free <= 0:
            return []
        chosen = pick.pick(
            self.store,
            self.settings,
            now=self.ctx.now(),
            free=free,
            skip=frozenset(self.children),
            me=self.me,
        )
        started = [job.id for job in chosen if self._spawn(job)]
        failed = [job.id for job in chosen if job.id not in started]
        if failed:
            pick.release(self.store, failed, me=self.me)
        return started

    def _spawn(self, job: Job) -> bool:
        argv = list(self.command(job.id))
        env = dict(os.environ if self.env is None else self.env)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=self._preexec,  # one prctl call: no lock taken
                close_fds=True,
            )
        except OSError as exc:
            log.error("job %s: could not start its process: %s", job.id, exc)
            return False
        self.children[job.id] = Child(
            job.id, job.key, job.tenant, job.connector, proc, started=time.monotonic()
        )
        # Wake the loop when the child exits, so its slot is reused at once, not at the next poll.
        threading.Thread(target=self._wake_on_exit, args=(proc,), daemon=True).start()
        log.info("job %s (%s) started in process %d", job.id, job.key, proc.pid)
        return True

    def _wake_on_exit(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(Exception):
            proc.wait()
        self._wake.set()

    @property
    def _pause_after(self) -> int | None:
        return self.settings.pause_after_failures or None

    # -- watching children ---------------------------------------------------------------------
    def reap(self) -> list[str]:
        """Collect children that exited; record the end of a job whose child did not. The ids
        of the jobs whose child exited."""
        gone = []
        for job_id, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            self._after_exit(child, code)  # if the store fails, the next round tries again
            del self.children[job_id]
            gone.append(job_id)
        return gone

    def _after_exit(self, child: Child, code: int) -> None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == child.job_id)).first()
        if row is None:
            return
        job = to_job(row)
        if job.status == "queued":
            if code != EXIT_NOT_CLAIMED:
                self._never_claimed(job, code)
            return
        self._no_claim.pop(job.id, None)
        if job.status == "running" and recovery.worker_pid(job.worker, recovery.hostname()) in (
            child.proc.pid,
            None,
        ):
            self._record_crash(job, code)
            job = recovery.reread(self.store, job.id)
        if job.status == "interrupted":
            recovery.rerun_owed(self.store, self.settings, self.ctx.now())

    def _record_crash(self, job: Job, code: int) -> None:
        """The child exited while the store says running: it could not record its end."""
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            status, error = "interrupted", f"the process running it was killed ({name})"
        else:
            status = "failed"
            error = f"the process running it exited with code {code} without recording an end"
        with self.store.write() as conn:
            if recovery.end_job(
                conn, job, status, error, self.ctx.now(), code, pause_after=self._pause_after
            ):
                log.error("job %s (%s) %s: %s", job.id, job.key, status, error)

    def _never_claimed(self, job: Job, code: int) -> None:
        """The child exited leaving the job queued: it could not start it (a broken install,
        or the link is busy elsewhere). After a few such exits the job is failed, not retried
        forever."""
        tries = self._no_claim.get(job.id, 0) + 1
        self._no_claim[job.id] = tries
        if tries < _GIVE_UP_SPAWNS:
            log.warning("job %s: its process exited (code %d) before starting it", job.id, code)
            return
        self._no_claim.pop(job.id, None)
        error = f"its process exited (code {code}) before starting the job, {tries} times"
        with self.store.write() as conn:
            recovery.end_job(
                conn,
                job,
                "failed",
                error,
                self.ctx.now(),
                code,
                was="queued",
                pause_after=self._pause_after,
            )
        log.error("job %s failed: %s", job.id, error)

    def _pass_on_cancels(self) -> None:
        """SIGTERM the children whose job was asked to cancel and that did not stop on their own
        within two heartbeats (a child reads its cancel request with each heartbeat and stops
        as Ctrl-C does; the signal is for one stuck before its watch runs)."""
        if not self.children:
            return
        asked = sa.select(jobs.c.id).where(
            jobs.c.id.in_(list(self.children)), jobs.c.cancel_requested.is_(True)
        )
        with self.store.engine.connect() as conn:
            wanted = {r.id for r in conn.execute(asked).all()}
        now = time.monotonic()
        patience = 2 * self.settings.heartbeat_s + 1.0
        for job_id in wanted:
            child = self.children.get(job_id)
            if child is None or child.term_sent is not None:
                continue
            if child.cancel_seen is None:
                child.cancel_seen = now
            if now - child.cancel_seen >= patience:
                log.info("job %s: cancel asked and still running: SIGTERM", job_id)
                self._signal(child, signal.SIGTERM)
                child.term_sent = now

    def _recover_if_due(self) -> None:
        now = self.ctx.now()
        if now < self._next_recovery:
            return
        at_start = not self._recovered_at_start
        self._recovered_at_start = True
        self._next_recovery = now + self.settings.stale_after_s / 2
        recovery.recover(self.store, self.settings, now, at_start=at_start)

    def _purge_if_due(self) -> None:
        """Delete ended jobs older than ``jobs.retention`` (with their logs): at start, then
        hourly."""
        now = self.ctx.now()
        keep = self.settings.retention_s
        if keep is None or now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_S
        removed = retention.purge(self.store, keep, now=now)
        if removed.get("jobs"):
            log.info("purged %d job(s) past the retention", removed["jobs"])

    @staticmethod
    def _signal(child: Child, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signum)

    @staticmethod
    def _kill(child: Child) -> None:
        child.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
