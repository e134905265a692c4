"""fanout.py: what goes to each target, in which bytes, and which target's pipe broke."""

from __future__ import annotations

import io
import sys
import threading

from glue_runtime.fanout import Fanout
from glue_runtime.process import ConnectorProcess
from glue_runtime.protocol import Message
from glue_runtime.secrets import Redactor
from glue_runtime.tapread import SingerReader

LINES = [
    b'{"type":"SCHEMA","stream":"s","schema":{},"key_properties":[]}\n',
    b'{"type":"RECORD","stream":"s","record":{"n":1.10}}\n',
    b'{"type":"STATE","value":{"at":  1}}\n',
    b'{"type":"RECORD","stream":"t","record":{"n":2}}\n',
]
CAT = [
    sys.executable,
    "-c",
    "import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)",
]


def _collect(proc: ConnectorProcess, into: list[bytes]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.append(proc.stdout.read()))
    thread.start()
    return thread


def _change_t(messages):  # a stage: changes stream t's records, passes the rest unchanged
    for msg in messages:
        if msg.get("stream") == "t" and msg["type"] == "RECORD":
            msg = {**msg, "record": {"n": 3}}
        yield msg


def test_every_target_gets_the_tap_bytes_of_unchanged_messages_and_a_state_is_registered_first():
    targets = [
        ConnectorProcess(f"cat[{i}]", CAT, stdin=True, redactor=Redactor()) for i in range(2)
    ]
    outputs: list[list[bytes]] = [[], []]
    collectors = [_collect(t, out) for t, out in zip(targets, outputs, strict=True)]
    events: list[str] = []
    reader = SingerReader(
        io.BytesIO(b"".join(LINES)), label="tap", max_line_bytes=1 << 20, redactor=None
    )
    fanout = Fanout(
        targets,
        on_state=lambda value: events.append(f"state {value}"),
        on_batch=lambda msg: events.append("batch"),
        on_schema_less=lambda stream: events.append(f"schema-less {stream}"),
    )
    assert fanout.write(_change_t(reader.messages()), reader.current) is None
    for t in targets:
        t.close_stdin()
    for c in collectors:
        c.join(30)
    expected = b"".join(LINES[:3]) + b'{"type":"RECORD","stream":"t","record":{"n":3}}\n'
    assert [out[0] for out in outputs] == [expected, expected]
    assert events == ["state {'at': 1}", "schema-less t"]
    assert fanout.records_out == {"s": 1, "t": 1}
    for t in targets:
        assert t.wait(30) == 0
        t.close()


def test_the_target_whose_pipe_broke_is_named():
    reading = ConnectorProcess("cat", CAT, stdin=True, redactor=Redactor())
    out: list[bytes] = []
    collector = _collect(reading, out)
    gone = ConnectorProcess("gone", [sys.executable, "-c", "pass"], stdin=True, redactor=Redactor())
    assert gone.wait(30) == 0
    record: Message = {"type": "RECORD", "stream": "s", "record": {"pad": "x" * 10_000}}
    reader = SingerReader(io.BytesIO(b""), label="tap", max_line_bytes=1 << 20, redactor=None)
    fanout = Fanout(
        [reading, gone],
        on_state=lambda v: None,
        on_batch=lambda m: None,
        on_schema_less=lambda s: None,
    )
    # more than the 1 MiB stdin buffer, so the writes reach the closed pipe
    assert fanout.write((record for _ in range(300)), reader.current) == 1
    reading.close_stdin()
    collector.join(30)
    assert reading.wait(30) == 0
    for p in (reading, gone):
        p.close()
