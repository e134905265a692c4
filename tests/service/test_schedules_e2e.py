"""A schedule end to end: a tick queues a job, the job runs the bundled connectors and its
data lands; and the same inside a real ``glue serve`` (its scheduler and executor)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from glue_test_helpers import wait_until
from workspace.conftest_run import Workspace, make_workspace, rows

from glue_runtime.jobs.execute import execute
from glue_runtime.service.schedules.scheduler import Scheduler
from glue_runtime.workspace.tables import links

from .conftest import Served, wait_status
from .conftest_schedules import HOURLY, T0, open_scheduled, schedules_yaml

YEARLY = """
      yearly:
        cron: "0 0 1 1 *"
        tenants: [acme]
"""


@pytest.mark.slow
def test_a_tick_queues_a_job_that_runs_and_lands_its_data(tmp_path):
    s = open_scheduled(tmp_path / "ws", None, HOURLY)
    fired = Scheduler(s.context()).tick(now=T0 + 301)
    by_tenant = {f.tenant: f for f in fired}
    (job_id,) = by_tenant["acme"].jobs
    ended = execute(s.opened, job_id)
    assert ended is not None and ended.status == "succeeded", ended and ended.error
    assert (ended.started_by, ended.started_ref) == ("schedule", "shop/hourly")
    assert [r["name"] for r in rows(s.ws.root / "out" / "acme.db")] == ["acme-1", "acme-2"]


@pytest.fixture
def workspace_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_store_url: str | None
) -> Iterator[Workspace]:
    """The service tests' workspace with a yearly schedule for acme, linked two years ago:
    the latest tick (last 1 January) is a missed run, which the server fires when it starts."""
    ws = make_workspace(tmp_path / "ws", service_store_url)
    schedules_yaml(ws.root, YEARLY)
    with ws.store.write() as conn:
        conn.execute(sa.update(links).values(created_at=T0 - 2 * 366 * 86400))
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)
    yield ws
    ws.store.close()


@pytest.mark.slow
def test_glue_serve_fires_a_missed_schedule_on_start_and_runs_its_job(
    served: Served, admin_key: str, workspace_dir: Workspace
):
    api = served.client(admin_key)

    def scheduled() -> list[dict]:
        found = api.get("/v1/jobs", params={"tenant": "acme"}).json()["jobs"]
        return [j for j in found if j["started_by"] == "schedule"]

    (job,) = wait_until(scheduled, "glue serve's scheduler to queue acme's job")
    assert job["started_ref"] == "shop/yearly"
    done = wait_status(api, job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done.get("error")
    assert [r["name"] for r in rows(workspace_dir.root / "out" / "acme.db")] == ["acme-1", "acme-2"]
    listed = api.get("/v1/flows/shop/schedules").json()["schedules"]
    (acme,) = listed[0]["per_tenant"]
    assert acme["last_tick"] is not None and acme["last_tick"][5:10] == "01-01"
    assert api.get("/v1/jobs", params={"tenant": "globex"}).json()["jobs"] == []
