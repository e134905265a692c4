"""Concurrent starts with one Idempotency-Key, on SQLite and PostgreSQL: every answer names
the same job, and one job exists."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_test_helpers import KINDS, fresh_store_url
from workspace.conftest_run import Workspace

from glue_runtime.jobs import records
from service.conftest import AppServer


@pytest.fixture(params=KINDS)
def service_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_store_url(request.param, tmp_path) as url:
        yield url


def test_racing_requests_with_one_idempotency_key_get_one_job(
    app_server: AppServer, workspace_dir: Workspace, admin_key: str
) -> None:
    client = app_server.client(admin_key)
    barrier = threading.Barrier(6)
    answers: list[list[str]] = []

    def start() -> None:
        barrier.wait()
        answer = client.post(
            "/v1/flows/shop/tenants/acme/jobs",
            json={"connector": "files"},
            headers={"Idempotency-Key": "race-1"},
        )
        assert answer.status_code == 202, answer.text
        answers.append([j["id"] for j in answer.json()["jobs"]])

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 6
    assert len({tuple(a) for a in answers}) == 1
    assert len(records.list_jobs(workspace_dir.store)) == 1
