"""STATE holding: a STATE passes only after the records before it, and, for scripts that
aggregate (an ``end_stream`` hook without ``HOLD_STATE = False``), only at the end of input,
after the aggregates.

The first rule is the stage's order: it yields a STATE when it reaches it, after every message
before it. The second is this piece: it keeps the latest STATE until :meth:`release`.
"""

from __future__ import annotations

from glue_runtime.protocol import Message


class StateHold:
    """Holds STATE messages back (``hold``) or lets them through."""

    __slots__ = ("held", "hold")

    def __init__(self, hold: bool) -> None:
        self.hold = hold
        self.held: Message | None = None

    def state(self, msg: Message) -> Message | None:
        """The STATE to send now (None: held until the end of input)."""
        if not self.hold:
            return msg
        self.held = msg
        return None

    def release(self) -> Message | None:
        """The latest held STATE, at the end of input (after the streams' last records)."""
        held, self.held = self.held, None
        return held


__all__ = ["StateHold"]
