"""Message stages: functions from an iterator of Singer messages to an iterator of messages.

Stages know nothing of processes, files or threads; the runner owns those.

The contract every stage keeps:

- never mutate a message (or its record) in place: yield the same object when it passes
  unchanged, a new dict when it changes. The runner writes an unchanged message as the exact
  bytes the tap sent (no re-serialising, no float rounding of big numbers), so identity must
  mean "unchanged";
- yield a STATE only after every message that came before it (the runner relies on order);
- do per-stream work once per SCHEMA, not per record.

glue_runtime's own stages (the field map's ``make_selector``, the ETL's ``make_transform``)
are one kind, :class:`~glue_runtime.stages.stage.PlanStage`: per SCHEMA a stream's
:class:`~glue_runtime.stages.plan.StreamPlan` (selection, maps, validation) compiled into one
record function (:mod:`~glue_runtime.stages.compile`). A transform stage applied to a field
map stage's output fuses with it into one pass. See docs/architecture.md, "Stages".
"""

from collections.abc import Callable, Iterator

from glue_runtime.protocol import Message

Stage = Callable[[Iterator[Message]], Iterator[Message]]

__all__ = ["Message", "Stage"]
