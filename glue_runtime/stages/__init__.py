"""Message stages: functions from an iterator of Singer messages to an iterator of messages.

Stages know nothing of processes, files or threads; the runner owns those.
"""

from collections.abc import Callable, Iterator

from glue_runtime.protocol import Message

Stage = Callable[[Iterator[Message]], Iterator[Message]]

__all__ = ["Message", "Stage"]
