"""Fixtures of the executor's tests: a workspace with tenants and links, a controlled clock,
an executor over it whose children are the ``jobs exec`` stand-in (tests/jobs/exec_standin.py).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from workspace.conftest_run import KEY, Workspace, make_workspace

from glue_runtime.jobs.executor import EmbeddedExecutor
from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.records import enqueue, get
from glue_runtime.jobs.settings import parse_job_settings
from glue_runtime.jobs.tables import jobs
from glue_runtime.service.context import ServiceContext
from glue_runtime.workspace.open import open_workspace

STANDIN = str(Path(__file__).with_name("exec_standin.py"))


@dataclass
class Clock:
    """A clock tests move by hand."""

    t: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def standin_command(root: Path) -> Callable[[str], list[str]]:
    return lambda job_id: [sys.executable, STANDIN, str(root), job_id]


@dataclass
class Bench:
    """A workspace, its clock, and executors made over it."""

    ws: Workspace
    clock: Clock
    gate: Path
    made: list[EmbeddedExecutor] = field(default_factory=list)

    def context(self) -> ServiceContext:
        opened = open_workspace(self.ws.root)
        return ServiceContext(opened, now=self.clock)

    def executor(self, mode: str = "gate", **settings: Any) -> EmbeddedExecutor:
        env = {**os.environ, **self.ws.env, "STANDIN_MODE": mode, "STANDIN_GATE": str(self.gate)}
        executor = EmbeddedExecutor(
            self.context(),
            settings=parse_job_settings({"heartbeat": 0.2, **settings}),
            command=standin_command(self.ws.root),
            env=env,
            kill_after_s=10.0,
        )
        self.made.append(executor)
        return executor

    def queue(self, tenant: str = "acme", connector: str = "files", **kw: Any) -> Job:
        request = JobRequest(flow=kw.pop("flow", "shop"), tenant=tenant, connector=connector, **kw)
        job, _new = enqueue(self.ws.store, request, now=self.clock())
        self.clock.advance(0.001)  # the next job is created after this one
        return job

    def job(self, job_id: str) -> Job:
        return get(self.ws.store, job_id)

    def release(self, job_id: str = "all") -> None:
        (self.gate / job_id).touch()

    def claims(self) -> list[str]:
        log = self.gate / "claims.log"
        return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []

    def running_count(self) -> int:
        with self.ws.store.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(jobs.c.status == "running")
                ).scalar_one()
            )

    def wait_for(
        self, executor: EmbeddedExecutor | None, check: Callable[[], Any], timeout: float = 30.0
    ) -> Any:
        """Run executor rounds (none when ``executor`` is None: its own thread runs them) until
        ``check()`` is truthy, polling the store; no fixed sleep."""
        deadline = time.monotonic() + timeout
        while True:
            if executor is not None:
                executor.poll_once()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {check}")
            time.sleep(0.05)

    def wait_idle(self, executor: EmbeddedExecutor) -> None:
        """Until every child of ``executor`` has exited and been reaped."""
        self.wait_for(executor, lambda: executor.running() == [])

    def wait_status(
        self, executor: EmbeddedExecutor, job_id: str, *statuses: str, timeout: float = 30.0
    ) -> Job:
        self.wait_for(executor, lambda: self.job(job_id).status in statuses, timeout)
        return self.job(job_id)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    ws = make_workspace(tmp_path / "ws")
    for tenant in ("initech", "umbrella"):
        ws.store.add_tenant(tenant)
        ws.link("shop", tenant, "files")
    for tenant in ("acme", "globex", "initech", "umbrella"):
        ws.link("shop", tenant, "other")
    gate = tmp_path / "gate"
    gate.mkdir()
    made = Bench(ws, Clock(), gate)
    yield made
    made.release()
    for executor in made.made:
        executor.stop(grace_s=10.0)
        executor.ctx.opened.close()
    ws.store.close()


@pytest.fixture
def rbench(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bench]:
    """A bench on SQLite and on PostgreSQL (``store_url``, imported with this fixture)."""
    ws = make_workspace(tmp_path / "ws", store_url)
    for tenant in ("acme", "globex"):
        ws.link("shop", tenant, "other")
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)  # the executor opens the workspace as glue serve does
    made = Bench(ws, Clock(), tmp_path)
    yield made
    for executor in made.made:
        executor.stop(grace_s=5.0)
        executor.ctx.opened.close()
    ws.store.close()


__all__ = ["KEY", "Bench", "Clock", "bench", "rbench"]
