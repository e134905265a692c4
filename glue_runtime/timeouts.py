"""How long a job waits on a connector before it gives up on it.

Without a bound, a tap that stops writing, a target that never exits once its input has ended,
or an ``--about`` / ``--discover`` call that never returns holds the run (and its state lock)
forever. Each wait has a timeout; past it the connector is stopped (SIGTERM, SIGKILL after a
grace period) and the job fails with :class:`~glue_runtime.errors.ConnectorTimeout`, naming the
connector and the timeout. ``0`` or ``None`` turns a timeout off.

The defaults are generous on purpose: a timeout that fires on a healthy connector is worse than
a hang noticed late.

- ``idle`` (30 min): the tap wrote nothing, on stdout *or stderr*, for this long while running
  (or, while the tap waits on the job, a target read nothing of its input for this long).
  Taps that wait on a slow API (an asynchronous report, a rate limit's back-off) usually log
  while they wait, so a line on stderr counts as alive; a tap silent on both for 30 minutes is
  stuck on a dead connection far more often than working. Output the job has not read yet (we
  are the slow side) also counts as alive.
- ``drain`` (10 min): a connector still running this long after its part of the job ended: a
  target after its input was closed (it flushes its last batch: singer-sdk targets hold at most
  10,000 records per stream, a warehouse load of that takes seconds to minutes), the tap after
  its output ended, and the tap after SIGINT/SIGTERM asked it to stop.
- ``about`` (2 min): ``--about --format json`` answers from code, with no network; a minute is
  plenty even for a cold import of a large connector on a loaded machine, two leaves room.
- ``discover`` (30 min): discovery of a large database or SaaS account lists thousands of
  tables or objects, each a query or request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from glue_runtime.errors import ConfigError

NAMES = ("idle", "drain", "about", "discover")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class Timeouts:
    """Seconds each wait may take; None means no limit."""

    idle: float | None = 30 * 60.0
    drain: float | None = 10 * 60.0
    about: float | None = 2 * 60.0
    discover: float | None = 30 * 60.0

    def merged(self, values: Mapping[str, Any] | None, *, where: str) -> Timeouts:
        """These timeouts with ``values`` (a flow file's ``timeouts:``, say) laid over them."""
        if not values:
            return self
        return replace(self, **parse_timeouts(values, where=where))

    def as_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_duration(value: Any, *, where: str) -> float | None:
    """Seconds from a number or a string such as ``90``, ``90s``, ``30m``, ``2h``; 0 -> None."""
    if value is None:
        return None
    seconds: float
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected seconds or a duration such as 30m, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ConfigError(
            f"{where}: expected seconds or a duration such as 90s, 30m or 2h, got {value!r}",
            hint="0 (or null) turns the timeout off",
        )
    if math.isnan(seconds) or seconds < 0:
        raise ConfigError(f"{where}: a timeout cannot be negative (got {value!r})")
    return seconds or None


def parse_timeouts(values: Mapping[str, Any], *, where: str) -> dict[str, float | None]:
    """Check a ``{name: duration}`` mapping; unknown names are refused with the known ones."""
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"{where}: timeouts must be a mapping such as {{idle: 30m, drain: 10m}}",
            hint=f"known timeouts: {', '.join(NAMES)}",
        )
    unknown = sorted(str(k) for k in values if k not in NAMES)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], NAMES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}: unknown timeout {unknown[0]!r}",
            hint=f"{hint}known timeouts: {', '.join(NAMES)}",
        )
    return {str(k): parse_duration(v, where=f"{where}.{k}") for k, v in values.items()}


def parse_cli_timeouts(items: tuple[str, ...] | list[str]) -> dict[str, float | None]:
    """``--timeout idle=30m --timeout drain=0`` as a mapping for :meth:`Timeouts.merged`."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--timeout {item!r}: expected NAME=DURATION, e.g. --timeout idle=30m",
                hint=f"known timeouts: {', '.join(NAMES)}",
            )
        values[name.strip()] = value
    return parse_timeouts(values, where="--timeout")


def describe(seconds: float) -> str:
    """A duration for messages: 0.5s, 90s, 30 min, 2 h."""
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"
