"""Two ``glue serve`` processes over one PostgreSQL store: a schedule's tick fires once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from glue_test_helpers import wait_until
from store_test_helpers import fresh_pg_url
from workspace.conftest_run import Workspace

from .conftest import start_served, stop_served
from .test_schedules_e2e import workspace_dir

__all__ = ["workspace_dir"]  # the fixture: a yearly schedule whose latest tick was missed


@pytest.fixture
def service_store_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL for this module's servers (the two-server case needs a shared store)."""
    with fresh_pg_url() as url:
        yield url


@pytest.mark.slow
@pytest.mark.postgres
def test_two_glue_serve_processes_on_one_store_fire_a_missed_run_once(
    workspace_dir: Workspace, tmp_path: Path, admin_key: str
):
    servers = [
        start_served(workspace_dir, tmp_path / f"serve-{i}.log", "--no-executor") for i in (1, 2)
    ]
    try:
        for server in servers:
            wait_until(
                lambda server=server: "the first round fired" in server.output(),
                "each server's scheduler to finish its first round",
            )
        jobs = servers[1].client(admin_key).get("/v1/jobs").json()["jobs"]
        assert [(j["tenant"], j["started_by"], j["status"]) for j in jobs] == [
            ("acme", "schedule", "queued")
        ]
        fired = [s.output().split("the first round fired ")[1][0] for s in servers]
        assert sorted(fired) == ["0", "1"]  # one server fired it, the other found it fired
    finally:
        for server in servers:
            stop_served(server)
