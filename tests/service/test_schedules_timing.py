"""Schedules' timing and glue.yml parsing: cron and interval ticks (with DST), jitter, errors."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from glue_runtime.errors import ConfigError
from glue_runtime.service.schedules.model import Schedule, flow_schedules
from glue_runtime.service.schedules.timing import Timing
from glue_runtime.workspace.config import load_workspace

from .conftest_schedules import at, schedules_yaml


def local(timing: Timing, tick: float) -> str:
    return timing.local(tick).isoformat()


def ticks_after(timing: Timing, start: str, count: int) -> list[str]:
    found, t = [], at(start)
    for _ in range(count):
        t = timing.next(t)
        found.append(local(timing, t))
    return found


def test_cron_next_and_previous_ticks_in_utc():
    hourly = Timing(cron="0 * * * *")
    assert ticks_after(hourly, "2025-01-01T10:20:00+00:00", 2) == [
        "2025-01-01T11:00:00+00:00",
        "2025-01-01T12:00:00+00:00",
    ]
    # previous is "at or before": a tick exactly at now is the latest tick, not the one before
    assert (
        local(hourly, hourly.previous(at("2025-01-01T11:00:00+00:00")))
        == "2025-01-01T11:00:00+00:00"
    )
    assert (
        local(hourly, hourly.previous(at("2025-01-01T10:59:59+00:00")))
        == "2025-01-01T10:00:00+00:00"
    )
    weekdays = Timing(cron="30 9 * * 1-5")
    assert ticks_after(weekdays, "2025-01-03T10:00:00+00:00", 2) == [  # a Friday
        "2025-01-06T09:30:00+00:00",
        "2025-01-07T09:30:00+00:00",
    ]


def test_cron_in_a_timezone_with_dst_fires_once_a_day_across_both_changes():
    paris = Timing(cron="30 2 * * *", timezone="Europe/Paris")
    # spring: 02:30 does not exist on 2024-03-31; it fires just after the gap
    assert ticks_after(paris, "2024-03-30T12:00:00+01:00", 3) == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]
    # autumn: 02:30 happens twice on 2024-10-27; a daily job runs once, at the first
    assert ticks_after(paris, "2024-10-26T12:00:00+02:00", 3) == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
        "2024-10-29T02:30:00+01:00",
    ]
    after_second = at("2024-10-27T02:45:00+01:00")
    assert local(paris, paris.previous(after_second)) == "2024-10-27T02:30:00+02:00"
    # the local time is kept across the change: 02:30 CEST, then 02:30 CET (UTC moves)
    assert Timing(cron="0 9 * * *", timezone="America/New_York").next(
        at("2024-03-10T12:00:00+00:00")
    ) == at("2024-03-10T09:00:00-04:00")  # 13:00 UTC, 14:00 UTC the day before


def test_an_hourly_cron_keeps_both_repeated_hours_of_the_autumn_change():
    hourly = Timing(cron="0 * * * *", timezone="Europe/Paris")
    assert ticks_after(hourly, "2024-10-27T01:30:00+02:00", 3) == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]


def test_intervals_are_anchored_at_the_epoch_in_the_timezone():
    six = Timing(every_s=6 * 3600, timezone="Asia/Kolkata")
    assert ticks_after(six, "2025-01-01T01:00:00+05:30", 2) == [
        "2025-01-01T06:00:00+05:30",
        "2025-01-01T12:00:00+05:30",
    ]
    assert six.previous(at("2025-01-01T06:00:00+05:30")) == at("2025-01-01T06:00:00+05:30")
    utc = Timing(every_s=15 * 60)
    assert ticks_after(utc, "2025-01-01T10:07:00+00:00", 1) == ["2025-01-01T10:15:00+00:00"]
    # an interval is elapsed time: across a DST change the ticks stay 24 h apart
    daily = Timing(every_s=86400, timezone="Europe/Paris")
    got = ticks_after(daily, "2024-03-30T12:00:00+01:00", 2)
    assert got == ["2024-03-31T00:00:00+01:00", "2024-04-01T01:00:00+02:00"]


def test_jitter_spreads_300_tenants_over_the_window_and_is_stable():
    hourly = Schedule(flow="shop", name="hourly", timing=Timing(cron="0 * * * *"))
    tenants = [f"tenant-{i:03d}" for i in range(300)]
    offsets = [hourly.offset_s(t) for t in tenants]
    window = hourly.window_s()
    assert window == 300  # min(1h / 10, 5m)
    assert all(0 <= o <= window for o in offsets)
    per_second = Counter(offsets)
    assert max(per_second.values()) <= 5  # not the same second: 300 over ~300 seconds
    assert len(per_second) > 150
    # every quarter of the window gets its share
    quarters = Counter(min(o * 4 // (window + 1), 3) for o in offsets)
    assert all(40 <= quarters[q] <= 110 for q in range(4)), quarters
    # stable: another server (another object) computes the same offsets
    again = Schedule(flow="shop", name="hourly", timing=Timing(cron="0 * * * *"))
    assert [again.offset_s(t) for t in tenants] == offsets
    # another schedule spreads the same tenants differently
    other = Schedule(flow="shop", name="nightly", timing=Timing(cron="0 * * * *"))
    assert [other.offset_s(t) for t in tenants] != offsets


def test_the_default_jitter_is_a_tenth_of_a_short_interval_and_an_explicit_one_wins():
    every_5m = Schedule(flow="f", name="s", timing=Timing(every_s=300))
    assert every_5m.window_s() == 30
    assert Schedule(flow="f", name="s", timing=Timing(cron="*/10 * * * *")).window_s() == 60
    fixed = Schedule(flow="f", name="s", timing=Timing(every_s=3600), jitter_s=20 * 60)
    assert fixed.window_s() == 1200
    none = Schedule(flow="f", name="s", timing=Timing(every_s=3600), jitter_s=0)
    assert {none.offset_s(f"t{i}") for i in range(50)} == {0}


def _load(tmp_path: Path, schedules: str) -> dict[str, Schedule]:
    (tmp_path / ".glue").mkdir(exist_ok=True)
    schedules_yaml(tmp_path, schedules)
    for name in ("etl.py", "fieldmap.yml", "batch_etl.py"):
        (tmp_path / name).write_text("")
    return flow_schedules(load_workspace(tmp_path).flow("shop"))


def test_glue_yml_schedules_parse_into_typed_schedules(tmp_path):
    found = _load(
        tmp_path,
        """
      hourly: {cron: "0 * * * *"}
      nightly:
        every: 1d
        timezone: Europe/Paris
        tenants: [acme]
        connector: files
        sync_type: full
        streams: [orders]
        jitter: 10m
        enabled: false
""",
    )
    assert found["hourly"] == Schedule(flow="shop", name="hourly", timing=Timing(cron="0 * * * *"))
    nightly = found["nightly"]
    assert nightly.timing == Timing(every_s=86400, timezone="Europe/Paris")
    assert (nightly.tenants, nightly.connector, nightly.sync_type) == (("acme",), "files", "full")
    assert (nightly.streams, nightly.jitter_s, nightly.enabled) == (("orders",), 600.0, False)
    assert nightly.id == "shop/nightly"


@pytest.mark.parametrize(
    ("schedules", "where", "what"),
    [
        (
            '\n      hourly: {cron: "61 * * * *"}\n',
            "flows.shop.schedules.hourly.cron",
            "not a valid cron",
        ),
        ('\n      hourly: {cron: "0 * * *"}\n', "flows.shop.schedules.hourly.cron", "5 fields"),
        ("\n      hourly: {every: 10s}\n", "flows.shop.schedules.hourly.every", "at least 1m"),
        (
            "\n      hourly: {timezone: UTC}\n",
            "flows.shop.schedules.hourly",
            "either `cron` or `every`",
        ),
        (
            '\n      hourly: {cron: "0 * * * *", every: 1h}\n',
            "flows.shop.schedules.hourly",
            "not both",
        ),
        (
            '\n      hourly: {cron: "0 * * * *", timezone: Mars/Olympus}\n',
            "flows.shop.schedules.hourly.timezone",
            "unknown timezone",
        ),
        (
            '\n      hourly: {cron: "0 * * * *", jitter: 2h}\n',
            "flows.shop.schedules.hourly.jitter",
            "not shorter than",
        ),
        (
            '\n      hourly: {cron: "0 * * * *", tenants: acme}\n',
            "flows.shop.schedules.hourly.tenants",
            "expected all or a list",
        ),
        (
            '\n      hourly: {cron: "0 * * * *", connector: db}\n',
            "flows.shop.schedules.hourly.connector",
            "not a source of flow 'shop'",
        ),
    ],
)
def test_a_bad_schedule_is_a_named_error(tmp_path, schedules, where, what):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, schedules)
    assert err.value.message.startswith(f"{where}:") or f"{where}:" in err.value.message
    assert what in err.value.message


def test_glue_yml_refuses_an_unknown_schedule_key_naming_it(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '\n      hourly: {cron: "0 * * * *", tenant: acme}\n')
    assert "flows.shop.schedules.hourly" in err.value.message
    assert "tenant" in err.value.message


def test_a_timing_needs_exactly_one_of_cron_and_every():
    with pytest.raises(ValueError):
        Timing()
    assert dt.timedelta(seconds=Timing(every_s=3600).interval_s) == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "timing",
    [
        Timing(cron="0 * * * *", timezone="Europe/Paris"),
        Timing(cron="30 2 * * 1-5", timezone="America/New_York"),
        Timing(cron="*/5 * * * *"),
        Timing(every_s=900, timezone="Asia/Kolkata"),
    ],
    ids=["hourly-paris", "weekdays-ny", "5min", "15m-kolkata"],
)
def test_the_shared_lookup_of_a_round_gives_what_each_tenant_would_look_up(timing):
    import random

    rng = random.Random(13)
    start = at("2024-10-26T00:00:00+00:00")
    for _ in range(300):
        now = start + rng.uniform(0, 3 * 86400)
        offset = rng.randint(0, int(timing.interval_s * 0.9))
        assert timing.previous_shifted(now, offset) == timing.previous(now - offset)
