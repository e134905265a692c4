"""What a stage did, per input stream, for the job's result: records in, out, dropped, failed
validation, sent to the general path; and the time spent in the stage.

Time is sampled: the stage times every 64th record's function (and every other message in
full) and scales the records' part up, so timing costs next to nothing per record.
``collect`` gathers the stats of a job's stages for :class:`~glue_runtime.result.JobResult`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SAMPLE_EVERY = 64  # a power of two: the stage tests ``position & (SAMPLE_EVERY - 1)``


@dataclass
class StreamCounts:
    """One input stream's counts in one stage."""

    records_in: int = 0
    records_out: int = 0  # RECORD messages sent on for it (to any output stream)
    dropped: int = 0  # records that went nowhere (unselected stream, filter, None)
    invalid: int = 0  # records that failed their output schema under validate="warn"
    general: int = 0  # records that took the general path (script, or anything unusual)

    def as_dict(self) -> dict[str, int]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped": self.dropped,
            "invalid": self.invalid,
            "general_path": self.general,
        }


@dataclass
class StageStats:
    """One stage's counts (summed over its passes) and its time."""

    name: str
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    seconds: float = 0.0
    passes: int = 0

    def stream(self, name: str) -> StreamCounts:
        counts = self.streams.get(name)
        if counts is None:
            counts = self.streams[name] = StreamCounts()
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": round(self.seconds, 3),
            "streams": {name: c.as_dict() for name, c in self.streams.items()},
        }


def collect(stages: Iterable[Any]) -> list[StageStats]:
    """The stats of the stages that ran (a stage fused into the next reports through it)."""
    out: list[StageStats] = []
    for stage in stages:
        stats = getattr(stage, "stage_stats", None)
        if isinstance(stats, StageStats) and stats.passes and stats not in out:
            out.append(stats)
    return out


__all__ = ["SAMPLE_EVERY", "StageStats", "StreamCounts", "collect"]
