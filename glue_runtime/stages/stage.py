"""The one stage: a field map, a transform (ETL script or declarative maps), or both fused.

A :class:`PlanStage` is a :data:`~glue_runtime.stages.Stage` (messages in, messages out). Per
pass over a message stream it keeps, per input stream, a :class:`Route`: the stream's
:class:`~glue_runtime.stages.plan.StreamPlan` (built when its SCHEMA arrives) and the plan's
compiled record function. Per RECORD the pass does one call of that function; everything
else (SCHEMA, STATE, ACTIVATE_VERSION, BATCH) goes through :meth:`StagePass.message`.

**Fusion.** A stage applied to the output of another stage's pass that has not started yet
may take that pass's input over instead: a transform stage applied to a field map stage's
output becomes one pass with both parts, so the runner's usual ``for stage in stages:
messages = stage(messages)`` runs one loop and one record function per stream. Any other
combination chains as plain iterators.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from glue_runtime.protocol import ACTIVATE_VERSION, BATCH, RECORD, SCHEMA, STATE, Message
from glue_runtime.stages.compile import Compiled, RecordResult, compile_plan, dropping, passing
from glue_runtime.stages.hold import StateHold
from glue_runtime.stages.plan import StreamPlan
from glue_runtime.stages.stats import SAMPLE_EVERY, StageStats, StreamCounts

if TYPE_CHECKING:
    from glue_runtime.etl_types import Script
    from glue_runtime.stages.select import SelectConfig, Selected, Selector
    from glue_runtime.stages.transform import ScriptRunner, TransformConfig

_MASK = SAMPLE_EVERY - 1
_NO_STREAM: Any = object()  # matches no stream name


class Route:
    """One input stream in one pass: its plan, its record function, its counts."""

    __slots__ = ("compiled", "counts", "fast_out", "general_out", "plan", "position", "stream")

    def __init__(self, plan: StreamPlan, compiled: Compiled, counts: StreamCounts) -> None:
        self.plan = plan
        self.compiled = compiled
        self.counts = counts
        self.position = 0  # records of the stream so far (ctx.position for scripts)
        self.stream: Any = None  # the script's stream state, when there is a script
        self.general_out = 0  # single RECORDs the general path returned
        self.fast_out = 0  # single RECORDs the record function returned (general ones too)


class PlanStage:
    """A stage made of a field map (``select``), a transform (``transform``), or both."""

    def __init__(
        self,
        name: str,
        *,
        select: SelectConfig | None = None,
        transform: TransformConfig | None = None,
    ) -> None:
        self.name = name
        self.select = select
        self.transform = transform
        self.stage_stats = StageStats(name)

    @property
    def script(self) -> Script | None:
        return self.transform.script if self.transform is not None else None

    def __call__(self, messages: Iterator[Message]) -> Iterator[Message]:
        if isinstance(messages, StagePass) and messages.fuses_with(self):
            return messages.fused(self)
        return StagePass(self.select, self.transform, messages, self.stage_stats)

    def __repr__(self) -> str:
        return f"PlanStage({self.name!r})"


class StagePass:
    """One pass of a stage over a message iterator (an iterator itself)."""

    def __init__(
        self,
        select: SelectConfig | None,
        transform: TransformConfig | None,
        messages: Iterator[Message],
        stats: StageStats,
    ) -> None:
        self.select_config = select
        self.transform_config = transform
        self.messages = messages
        self.stats = stats
        self.gen: Iterator[Message] | None = None
        self.selector: Selector | None = None
        self.runner: ScriptRunner | None = None
        self.hold = StateHold(False)
        self.routes: dict[Any, Route] = {}
        self.current: Route | None = None  # the route of the last RECORD message() handled
        self.sampled = 0.0  # seconds in the sampled records' functions
        self.samples = 0
        self.other_s = 0.0  # seconds in everything else

    # -- fusion ---------------------------------------------------------------------------

    def fuses_with(self, down: PlanStage) -> bool:
        """A field-map-only pass that has not started, feeding a transform-only stage."""
        return (
            self.gen is None
            and self.transform_config is None
            and self.select_config is not None
            and down.select is None
            and down.transform is not None
        )

    def fused(self, down: PlanStage) -> StagePass:
        down.stage_stats.name = f"{self.stats.name} + {down.name}"
        return StagePass(self.select_config, down.transform, self.messages, down.stage_stats)

    # -- iteration ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Message]:
        if self.gen is None:
            self.gen = self._loop()
        return self.gen

    def __next__(self) -> Message:
        return next(iter(self))

    def _loop(self) -> Iterator[Message]:
        """One call of the stream's record function per RECORD; the rest in message()."""
        self._begin()
        name: Any = _NO_STREAM
        fn: Callable[[Message, int], RecordResult] = passing_fn
        route: Route | None = None
        base = n = outs = nones = 0
        try:
            try:
                for msg in self.messages:
                    if msg.get("stream") != name or msg.get("type") != RECORD:
                        self._flush(route, n, outs, nones)
                        n = outs = nones = 0
                        route = self._route_of(msg)  # a RECORD of a stream with a plan
                        if route is None:
                            yield from self.message(msg)
                            route = self.current
                            name, fn, base = _cursor(route)
                            continue
                        name, fn, base = _cursor(route)
                    n += 1
                    res = fn(msg, base + n) if n & _MASK else self._timed(fn, msg, base + n)
                    if type(res) is dict:
                        outs += 1
                        yield res
                    elif res is None:
                        nones += 1
                    else:
                        yield from self._many(route, res)
            finally:
                self._flush(route, n, outs, nones)
            yield from self._end()
        finally:
            self._record_stats()

    def _begin(self) -> None:
        self.stats.passes += 1
        if self.select_config is not None:
            self.selector = self.select_config.start()
        if self.transform_config is not None:
            self.runner = self.transform_config.start()
            self.hold = StateHold(self.transform_config.script.holds_state)

    def _route_of(self, msg: Message) -> Route | None:
        """The route of a RECORD whose stream has one (else None: message() decides)."""
        if msg.get("type") != RECORD:
            return None
        return self.routes.get(msg.get("stream"))

    def _timed(self, fn: Callable[[Message, int], RecordResult], msg: Message, pos: int) -> Any:
        t = time.perf_counter()
        res = fn(msg, pos)
        self.sampled += time.perf_counter() - t
        self.samples += 1
        return res

    def _many(self, route: Route | None, res: Any) -> list[Message]:
        if route is not None:
            route.counts.records_out += sum(1 for m in res if m.get("type") == RECORD)
        return list(res)

    def _flush(self, route: Route | None, n: int, outs: int, nones: int) -> None:
        """Counts kept in the loop's locals, into the route (once per run of a stream)."""
        if route is None or not n:
            return
        route.position += n
        c = route.counts
        c.records_in += n
        c.records_out += outs
        c.dropped += nones
        route.fast_out += outs
        if route.stream is not None:
            route.stream.ctx.position = route.position

    # -- everything but the records of the current stream ---------------------------------

    def message(self, msg: Message) -> list[Message]:
        """A message the loop does not handle itself; sets ``current`` for a RECORD."""
        self.current = None
        mtype = msg.get("type")
        if mtype == RECORD:  # before any SCHEMA of its stream (its time: as the records')
            return self._first_record(msg)
        t = time.perf_counter()
        try:
            if mtype == SCHEMA:
                return self._schema(msg)
            if mtype == STATE:
                state = self.hold.state(msg)
                return [state] if state is not None else []
            if mtype in (ACTIVATE_VERSION, BATCH):
                return self._version_or_batch(msg)
            return [msg]
        finally:
            self.other_s += time.perf_counter() - t

    def _first_record(self, msg: Message) -> list[Message]:
        stream = msg.get("stream")
        route = self.routes.get(stream)
        if route is None:
            route = self.routes[stream] = self._route_without_schema(msg)
        self.current = route
        route.position += 1
        route.counts.records_in += 1
        res = route.compiled.fn(msg, route.position)
        if route.stream is not None:
            route.stream.ctx.position = route.position
        if res is None:
            route.counts.dropped += 1
            return []
        if type(res) is dict:
            route.counts.records_out += 1
            route.fast_out += 1
            return [res]
        return self._many(route, res)

    def _version_or_batch(self, msg: Message) -> list[Message]:
        if self.selector is not None and self.selector.other(msg) is None:
            return []
        if self.runner is not None:
            out = self.runner.other(msg)
            return [out] if out is not None else []
        return [msg]

    def _end(self) -> Iterator[Message]:
        t = time.perf_counter()
        out = self.runner.finish() if self.runner is not None else []
        held = self.hold.release()
        self.other_s += time.perf_counter() - t
        yield from out
        if held is not None:
            yield held

    # -- plans ----------------------------------------------------------------------------

    def _schema(self, msg: Message) -> list[Message]:
        stream = msg.get("stream")
        selected = self.selector.schema(msg) if self.selector is not None else None
        if selected is not None and not selected.selected:
            self.routes[stream] = self._dropping(stream)
            return []
        if selected is not None and selected.msg is not None:
            msg = selected.msg
        steps = selected.steps if selected is not None else None
        old = self.routes.get(stream)
        out = self.runner.start(msg) if self.runner is not None else [msg]
        route = self._route(str(stream), steps, msg)
        if old is not None and old.stream is not None and old.stream is route.stream:
            route.position = old.position  # an identical SCHEMA: the stream goes on
        self.routes[stream] = route
        return out

    def _route(self, stream: str, steps: Any, msg: Message | None) -> Route:
        """The stream's plan and record function, once its SCHEMA is through the stages."""
        counts = self.stats.stream(stream)
        runner = self.runner
        s = runner.streams.get(stream) if runner is not None else None
        if runner is None or s is None:
            plan = StreamPlan(stream, stream, _keys(msg), select=steps)
            return Route(plan, compile_plan(plan, None) if steps else passing(plan), counts)
        out_name = s.out.name if s.out is not None else None
        keys = tuple(s.out.key_properties) if s.out is not None else ()
        if runner.passes(s):
            plan = StreamPlan(stream, out_name, keys, select=steps)
            route = Route(plan, compile_plan(plan, None) if steps else passing(plan), counts)
        else:
            route = self._transform_route(stream, steps, s, out_name, keys, counts)
        route.stream = s
        return route

    def _transform_route(
        self,
        stream: str,
        steps: Any,
        s: Any,
        out_name: str | None,
        keys: tuple[str, ...],
        counts: StreamCounts,
    ) -> Route:
        runner = self.runner
        assert runner is not None
        maps = runner.map_steps(s)
        check = runner.check_steps(s, maps) if maps is not None else None
        script = None if maps is not None else runner.script.name
        plan = StreamPlan(stream, out_name, keys, steps, maps, script, check)

        def general(msg: Message, position: int) -> RecordResult:
            """The script's general path for one record, counted."""
            counts.general += 1
            res = runner.record(s, msg, position)
            if type(res) is dict:
                route.general_out += 1
            return res

        route = Route(plan, compile_plan(plan, general), counts)
        return route

    def _route_without_schema(self, msg: Message) -> Route:
        """A RECORD before any SCHEMA of its stream."""
        stream = msg.get("stream")
        steps = None
        if self.selector is not None:
            selected: Selected = self.selector.without_schema(stream)
            if not selected.selected:
                return self._dropping(stream)
            steps = selected.steps
        if self.runner is not None:
            raise self.runner.no_schema(msg)
        return self._route(str(stream), steps, None)

    def _dropping(self, stream: Any) -> Route:
        plan = StreamPlan(str(stream), None, dropped=True)
        counts = self.stats.stream(str(stream))
        selector = self.selector
        assert selector is not None

        return Route(plan, dropping(plan, lambda: selector.drop(stream)), counts)

    # -- the end --------------------------------------------------------------------------

    def _record_stats(self) -> None:
        stats = self.stats
        records = sum(r.counts.records_in for r in self.routes.values())
        per_record = self.sampled / self.samples if self.samples else 0.0
        stats.seconds += self.other_s + per_record * max(records - self.samples, 0) + self.sampled
        runner = self.runner
        if runner is None:
            return
        for name, o in runner.outputs.items():
            if o.invalid:
                stats.stream(name).invalid += o.invalid
        config = self.transform_config
        if config is not None and config.stats is not None:
            fast: dict[str, int] = {}
            for r in self.routes.values():
                if r.plan.output is not None and r.plan.maps is not None:
                    n = r.fast_out - r.general_out
                    fast[r.plan.output] = fast.get(r.plan.output, 0) + max(n, 0)
            runner.record_stats(config.stats, fast)

    def plans(self) -> list[StreamPlan]:
        """The plans of the streams seen so far (for ``glue fieldmap show --plan``)."""
        return [r.plan for r in self.routes.values()]


def passing_fn(msg: Message, position: int) -> RecordResult:
    return msg


def _cursor(route: Route | None) -> tuple[Any, Callable[[Message, int], RecordResult], int]:
    """What the loop keeps in locals for the records of the current stream."""
    if route is None:
        return _NO_STREAM, passing_fn, 0
    return route.plan.stream, route.compiled.fn, route.position


def _keys(msg: Message | None) -> tuple[str, ...]:
    keys = msg.get("key_properties") if msg is not None else None
    return tuple(keys) if isinstance(keys, list) else ()


__all__ = ["PlanStage", "Route", "StagePass"]
