"""End to end through a real `glue serve` with its executor: a signed webhook starts a job of
the bundled files tap into SQLite, and the tenant's data lands; a replay and a bad signature
start nothing; /metrics counts the outcomes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests
from glue_test_helpers import wait_until
from workspace.conftest_run import make_workspace, rows

from glue_runtime.jobs.records import get, list_jobs
from glue_runtime.service.signing import sign
from service.conftest import start_served, stop_served
from service.conftest_triggers import PUBLIC_URL, write_glue_yml


@pytest.mark.slow
def test_a_signed_webhook_starts_a_job_whose_data_lands(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    write_glue_yml(ws.root)
    secret = ws.glue("triggers", "secret", "new", "shop", "glue").stdout.strip()
    listed = json.loads(ws.glue("triggers", "list", "shop", "--json").stdout)
    [url] = [t["url"] for t in listed if t["trigger"] == "shop.glue"]
    path = url.removeprefix(PUBLIC_URL)
    served = start_served(ws, tmp_path / "serve.log")
    try:
        body = json.dumps({"id": "evt_e2e", "tenant": "acme"}).encode()
        headers = {"Glue-Signature": sign(secret, body, int(time.time()))}
        got = requests.post(served.base + path, data=body, headers=headers, timeout=30)
        assert got.status_code == 202, got.text
        job_id = got.json()["job"]
        done = wait_until(
            lambda: (j := get(ws.store, job_id)).ended and j, f"job {job_id} to end", 180
        )
        assert done.status == "succeeded", (done.error, served.output())
        assert (done.started_by, done.started_ref) == ("trigger", "shop.glue")
        landed = rows(ws.root / "out" / "acme.db")
        assert [(r["id"], r["tenant"], r["job_id"]) for r in landed] == [
            (1, "acme", job_id),
            (2, "acme", job_id),
        ]
        again = requests.post(served.base + path, data=body, headers=headers, timeout=30)
        assert again.json() == {"duplicate": True}
        forged = {"Glue-Signature": sign("not-the-secret", body, int(time.time()))}
        assert requests.post(served.base + path, data=body, headers=forged).status_code == 401
        assert [j.id for j in list_jobs(ws.store)] == [job_id]
        metrics = requests.get(served.base + "/metrics", timeout=30).text
        for outcome in ("accepted", "duplicate", "bad_signature"):
            assert re.search(rf'glue_webhooks_total{{outcome="{outcome}"}} 1\.0', metrics)
        assert secret not in served.output()
    finally:
        stop_served(served)
