"""`glue jobs work`: bad input is refused with a named error before anything runs."""

from __future__ import annotations

from glue_test_helpers import run_cli
from workspace.conftest_run import make_workspace


def test_a_concurrency_below_one_is_refused(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    done = ws.glue("jobs", "work", "--concurrency", "0")
    assert done.code == 2
    assert "--concurrency" in done.stderr


def test_a_bad_jobs_setting_in_glue_yml_stops_it_naming_the_key(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    text = (ws.root / "glue.yml").read_text()
    (ws.root / "glue.yml").write_text(text + "jobs:\n  heartbeat: 10s\n  stale_after: 5s\n")
    done = ws.glue("jobs", "work")
    assert done.code == 2
    assert "jobs.stale_after" in done.stderr


def test_outside_a_workspace_it_says_where_it_looked(tmp_path):
    done = run_cli("jobs", "work", cwd=tmp_path, env={"GLUE_WORKSPACE": ""})
    assert done.code != 0
    assert "glue.yml" in done.stderr
