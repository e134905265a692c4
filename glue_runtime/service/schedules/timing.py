"""When a schedule's ticks fall: cron expressions (croniter) and intervals, in a timezone.

A tick is a whole number of seconds since the epoch. Cron is read in the schedule's timezone
with tz-aware datetimes, so croniter handles DST: a wall time skipped by the spring change
fires just after the gap; a wall time repeated by the autumn change fires once (the first
time), except for expressions whose hour field is ``*`` (every hour fires, both times).
Intervals are elapsed time anchored at 1970-01-01 00:00 in the timezone: ``every: 6h`` in
Asia/Kolkata ticks at 00:00, 06:00, ... local; an interval never stretches or shrinks at a DST
change (use cron for a wall-clock time of day that follows DST).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from glue_runtime.errors import ConfigError

UTC = "UTC"
MIN_EVERY_S = 60  # cron's granularity: a minute
_SAMPLE_TICKS = 16  # ticks looked at for a cron expression's shortest gap
_REFERENCE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # a fixed start: every server agrees


def zone(name: str, *, where: str) -> ZoneInfo:
    """The IANA timezone ``name``; ConfigError naming ``where`` when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: unknown timezone {name!r}",
            hint="use an IANA name such as UTC, Europe/Paris or America/New_York",
        ) from None


def check_cron(expr: str, *, where: str) -> str:
    """``expr`` if it is a 5-field cron expression (or an alias such as @daily) croniter reads."""
    text = " ".join(str(expr).split())
    fields = text.split(" ")
    if not text or (not text.startswith("@") and len(fields) != 5):
        raise ConfigError(
            f"{where}: {expr!r} is not a cron expression of 5 fields",
            hint="minute hour day-of-month month day-of-week, e.g. '0 * * * *' (hourly) or "
            "'30 2 * * 1-5'; or @hourly, @daily, @weekly, @monthly",
        )
    if not croniter.is_valid(text):
        raise ConfigError(
            f"{where}: {expr!r} is not a valid cron expression",
            hint="minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6; e.g. '*/15 * * * *'",
        )
    return text


def check_every(seconds: float, *, where: str) -> int:
    """An interval as whole seconds, at least a minute."""
    if math.isnan(seconds) or seconds < MIN_EVERY_S or seconds != int(seconds):
        raise ConfigError(
            f"{where}: an interval must be whole seconds, at least 1m (got {seconds:g}s)",
            hint="e.g. every: 15m, every: 1h, every: 86400",
        )
    return int(seconds)


@dataclass(frozen=True)
class Timing:
    """A cron expression or an interval (seconds) in a timezone: where ticks fall."""

    cron: str | None = None
    every_s: int | None = None
    timezone: str = UTC

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError("a Timing has a cron expression or an interval, not both")

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def expr(self) -> str:
        """The cron expression (for a cron timing)."""
        assert self.cron is not None
        return self.cron

    @property
    def describe(self) -> str:
        if self.cron is not None:
            return f"cron '{self.cron}' ({self.timezone})"
        return f"every {_human(self.every_s or 0)} ({self.timezone})"

    # -- ticks ----------------------------------------------------------------------------

    def previous(self, at: float) -> int:
        """The latest tick at or before ``at``."""
        if self.every_s is not None:
            anchor = self._anchor
            return anchor + math.floor((at - anchor) / self.every_s) * self.every_s
        moment = self._aware(at)
        it = croniter(self.expr, moment)
        tick: dt.datetime = it.get_prev(dt.datetime)
        after: dt.datetime = croniter(self.expr, tick).get_next(dt.datetime)
        if after.timestamp() <= at:  # croniter's previous is strictly before ``at``
            tick = after
        while self._repeated(tick):
            tick = croniter(self.expr, tick).get_prev(dt.datetime)
        return int(tick.timestamp())

    def previous_shifted(self, at: float, offset: float) -> int:
        """``previous(at - offset)`` for an offset shorter than the gap between ticks: a round
        asks it for many tenants at one ``at``, and two cached look-ups answer all of them."""
        latest = _previous(self, at)
        if latest + offset <= at:
            return latest
        before = _previous(self, latest - 1)
        if before + offset <= at:
            return before
        return self.previous(at - offset)  # an offset longer than the gap: look it up

    def next(self, at: float) -> int:
        """The first tick after ``at``."""
        if self.every_s is not None:
            return self.previous(at) + self.every_s
        it = croniter(self.expr, self._aware(at))
        tick: dt.datetime = it.get_next(dt.datetime)
        while self._repeated(tick):
            tick = it.get_next(dt.datetime)
        return int(tick.timestamp())

    @cached_property
    def interval_s(self) -> int:
        """The shortest gap between ticks (an interval's length; for cron, over a sample of
        ticks from a fixed date, so every server computes the same): bounds the jitter."""
        if self.every_s is not None:
            return self.every_s
        it = croniter(self.expr, _REFERENCE.astimezone(self.tz))
        ticks = [int(it.get_next(dt.datetime).timestamp()) for _ in range(_SAMPLE_TICKS)]
        return min(b - a for a, b in itertools.pairwise(ticks))

    def local(self, tick: float) -> dt.datetime:
        """``tick`` as a datetime in the schedule's timezone."""
        return self._aware(tick)

    # -- helpers --------------------------------------------------------------------------

    @cached_property
    def _anchor(self) -> int:
        return int(dt.datetime(1970, 1, 1, tzinfo=self.tz).timestamp())

    def _aware(self, at: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(at, dt.UTC).astimezone(self.tz)

    @cached_property
    def _every_hour(self) -> bool:
        """Whether the hour field is ``*`` (then a repeated hour is a real, separate tick)."""
        fields = croniter(self.expr).expanded
        return fields[1] == ["*"]

    def _repeated(self, tick: dt.datetime) -> bool:
        """The second time a wall time happens (the autumn DST change) for an expression that
        names its hours: cron fires such a job once, at the first of the two."""
        if self._every_hour:
            return False
        local = tick.astimezone(self.tz)
        first = local.replace(tzinfo=None).replace(tzinfo=self.tz, fold=0)
        return int(first.timestamp()) != int(local.timestamp())


@functools.lru_cache(maxsize=4096)
def _previous(timing: Timing, at: float) -> int:
    return timing.previous(at)


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
