"""Message stages: functions from an iterator of Singer messages to an iterator of messages.

Stages know nothing of processes, files or threads; the runner owns those.

The contract every stage keeps:

- never mutate a message (or its record) in place: yield the same object when it passes
  unchanged, a new dict when it changes. The runner writes an unchanged message as the exact
  bytes the tap sent (no re-serialising, no float rounding of big numbers), so identity must
  mean "unchanged";
- yield a STATE only after every message that came before it (the runner relies on order);
- do per-stream work once per SCHEMA, not per record.
"""

from collections.abc import Callable, Iterator

from glue_runtime.protocol import Message

Stage = Callable[[Iterator[Message]], Iterator[Message]]

__all__ = ["Message", "Stage"]
