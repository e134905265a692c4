"""What the service's routes and background loops share: the open workspace and a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glue_runtime.workspace.open import Opened


@dataclass
class ServiceContext:
    """One `glue serve` process's view of its workspace.

    ``now`` is the clock every time-based decision reads (schedules, expiries, signature
    windows, dedupe): tests set it instead of sleeping. ``extra`` holds what a part keeps for
    the process (its background loop, caches), by the part's name.
    """

    opened: Opened
    now: Callable[[], float] = time.time
    extra: dict[str, Any] = field(default_factory=dict)
