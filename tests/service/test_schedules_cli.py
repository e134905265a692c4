"""`glue schedules list|set|pause|resume` as a real process over a real workspace."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from glue_runtime.service.schedules.overrides import overrides

from .conftest_schedules import Scheduled, open_scheduled

SCHEDULES = """
      hourly:
        cron: "0 * * * *"
      nightly:
        cron: "30 2 * * *"
        timezone: Europe/Paris
        tenants: [acme]
"""


@pytest.fixture
def sched(tmp_path) -> Scheduled:
    return open_scheduled(tmp_path / "ws", None, SCHEDULES)


def listed(s: Scheduled, *args: str) -> list[dict]:
    result = s.ws.glue("schedules", "list", *args, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_list_shows_each_schedule_per_tenant_with_its_next_run_in_its_timezone(sched):
    before = time.time()
    rows = {(r["schedule"], r["tenant"]): r for r in listed(sched, "shop")}
    assert set(rows) == {("hourly", "acme"), ("hourly", "globex"), ("nightly", "acme")}
    hourly = rows[("hourly", "acme")]
    assert hourly["enabled"] is True and hourly["connectors"] == ["files"]
    assert before < hourly["next_run_at"] <= before + 3600 + 300
    assert hourly["next_run"].endswith("+00:00")
    nightly = dt.datetime.fromisoformat(rows[("nightly", "acme")]["next_run"])
    assert nightly.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))  # Paris
    assert (nightly.hour, nightly.minute // 5) in ((2, 6), (2, 7), (2, 8), (2, 9), (2, 10), (2, 11))
    text = sched.ws.glue("schedules", "list", "--tenant", "globex")
    assert text.code == 0, text.stderr
    assert "shop/hourly" in text.stdout and "globex" in text.stdout
    assert "nightly" not in text.stdout and "acme" not in text.stdout


@pytest.mark.slow
def test_set_overrides_one_tenant_and_clear_restores_glue_yml(sched):
    done = sched.ws.glue("schedules", "set", "shop", "hourly", "--tenant", "acme", "--every", "2h")
    assert done.code == 0, done.stderr
    assert "shop/hourly for tenant acme: every 2h (UTC), next run" in done.stdout
    off = sched.ws.glue("schedules", "set", "shop", "hourly", "--tenant", "globex", "--disable")
    assert off.code == 0, off.stderr
    rows = {r["tenant"]: r for r in listed(sched, "shop") if r["schedule"] == "hourly"}
    assert rows["acme"]["every_s"] == 7200 and rows["acme"]["override"]["every_s"] == 7200
    assert rows["globex"]["enabled"] is False
    assert rows["globex"]["why_off"] == "turned off for this tenant"
    text = sched.ws.glue("schedules", "list", "shop").stdout
    assert "off (turned off for this tenant) *override" in text
    cleared = sched.ws.glue("schedules", "set", "shop", "hourly", "--tenant", "acme", "--clear")
    assert cleared.code == 0, cleared.stderr
    rows = {r["tenant"]: r for r in listed(sched, "shop") if r["schedule"] == "hourly"}
    assert rows["acme"]["override"] is None and rows["acme"]["cron"] == "0 * * * *"


@pytest.mark.slow
def test_enable_turns_a_schedule_on_for_a_tenant_it_leaves_out(sched):
    assert "globex" not in {
        r["tenant"] for r in listed(sched, "shop") if r["schedule"] == "nightly"
    }
    on = sched.ws.glue("schedules", "set", "shop", "nightly", "--tenant", "globex", "--enable")
    assert on.code == 0, on.stderr
    (row,) = [r for r in listed(sched, "shop", "--tenant", "globex") if r["schedule"] == "nightly"]
    assert row["enabled"] is True and row["timezone"] == "Europe/Paris"


@pytest.mark.slow
def test_pause_and_resume_a_whole_schedule(sched):
    paused = sched.ws.glue("schedules", "pause", "shop", "hourly")
    assert paused.code == 0 and "paused for every tenant" in paused.stdout
    hourly = [r for r in listed(sched, "shop") if r["schedule"] == "hourly"]
    assert {r["why_off"] for r in hourly} == {"the schedule is paused"}
    resumed = sched.ws.glue("schedules", "resume", "shop", "hourly")
    assert resumed.code == 0 and "resumed" in resumed.stdout
    assert all(r["enabled"] for r in listed(sched, "shop") if r["schedule"] == "hourly")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tenant", "acme", "--cron", "61 * * * *"], "not a valid cron expression"),
        (["--tenant", "acme", "--every", "10s"], "at least 1m"),
        (["--tenant", "acme", "--timezone", "Mars/Olympus"], "unknown timezone 'Mars/Olympus'"),
        (["--tenant", "nobody", "--disable"], "unknown tenant 'nobody'"),
        (["--tenant", "acme", "--enable", "--disable"], "do not go together"),
        (["--tenant", "acme", "--cron", "0 * * * *", "--every", "1h"], "do not go together"),
        (["--tenant", "acme"], "nothing to set"),
    ],
)
def test_set_refuses_bad_input_with_a_named_error_and_changes_nothing(sched, args, says):
    result = sched.ws.glue("schedules", "set", "shop", "hourly", *args)
    assert result.code == 2, result.stdout
    assert says in result.stderr
    assert overrides(sched.store) == {}


def test_an_unknown_schedule_is_named_with_close_matches(sched):
    result = sched.ws.glue("schedules", "set", "shop", "hourli", "--tenant", "acme", "--disable")
    assert result.code == 2
    assert "unknown schedule 'hourli' in flow 'shop'" in result.stderr
    assert "did you mean 'hourly'" in result.stderr


def test_glue_serve_refuses_to_start_with_a_bad_schedule_naming_the_key(tmp_path):
    s = open_scheduled(tmp_path / "ws", None, '\n      hourly: {cron: "0 25 * * *"}\n')
    result = s.ws.glue("serve", "--port", "0")
    assert result.code == 2, result.stdout + result.stderr
    assert "flows.shop.schedules.hourly.cron: '0 25 * * *' is not a valid cron" in result.stderr
