"""tapread.py: the reader's envelope (Incoming) and the raw-bytes rule, on real pipes."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from glue_runtime.errors import LineTooLong, ProtocolError
from glue_runtime.protocol import dump
from glue_runtime.result import StreamStats
from glue_runtime.tapread import Incoming, SingerReader, encode

# Spacing, key order and number spellings orjson would not write back the same way.
SCHEMA = b'{"type": "SCHEMA",  "stream": "s", "schema": {}, "key_properties": ["id"]}\n'
RECORD = b'{"stream":"s","type":"RECORD","record":{"id":1,"price":1.10,"big":1E+400}}\n'
STATE = b'{"type":"STATE","value":{"bookmarks":{"s":{"id":  1}}}}\n'


def _reader(data: bytes, **kwargs: object) -> SingerReader:
    defaults: dict[str, object] = {"label": "tap-x", "max_line_bytes": 1 << 20, "redactor": None}
    defaults.update(kwargs)
    return SingerReader(io.BytesIO(data), **defaults)  # type: ignore[arg-type]


def _pipe_of(data: bytes) -> subprocess.Popen[bytes]:
    """A real process writing ``data`` on its stdout, as a tap would."""
    code = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.close()
    return proc


def test_each_message_carries_the_exact_bytes_of_its_line():
    proc = _pipe_of(SCHEMA + RECORD + STATE)
    assert proc.stdout is not None
    reader = SingerReader(proc.stdout, label="tap-x", max_line_bytes=1 << 20, redactor=None)
    seen = [(msg, reader.current.bytes_for(msg)) for msg in reader.messages()]
    proc.wait(30)
    assert [raw for _, raw in seen] == [SCHEMA, RECORD, STATE]
    assert [m["type"] for m, _ in seen] == ["SCHEMA", "RECORD", "STATE"]
    assert [reader.current.line_no] == [3]


def test_a_changed_message_is_serialised_and_an_unchanged_one_is_not():
    reader = _reader(RECORD)
    for msg in reader.messages():
        changed = {**msg, "record": {"id": 1}}  # a stage yields a new dict when it changes one
        assert reader.current.bytes_for(changed) is None
        assert encode(changed, reader.current) == dump(changed)
        assert encode(msg, reader.current) == RECORD  # 1.10 and 1E+400 stay as written


def test_the_last_line_without_a_newline_goes_out_with_one():
    reader = _reader(SCHEMA + STATE.rstrip(b"\n"))
    raws = [reader.current.bytes_for(m) for m in reader.messages()]
    assert raws == [SCHEMA, STATE]


def test_a_normalised_message_has_no_bytes_to_go_out_as():
    reader = _reader(SCHEMA + b'{"type": "record", "stream": "s", "record": {"id": 2}}\n')
    msgs = list(reader.messages())
    assert msgs[-1]["type"] == "RECORD"
    assert reader.current.bytes_for(msgs[-1]) is None


def test_an_envelope_left_behind_by_the_next_line_no_longer_matches():
    """A stage that holds a message yields it after the reader moved on: it is re-serialised."""
    reader = _reader(SCHEMA + RECORD)
    it = reader.messages()
    first = next(it)
    next(it)
    assert reader.current.bytes_for(first) is None


def test_records_and_schemas_are_counted_per_stream_and_new_streams_announced():
    started: list[str] = []
    streams: dict[str, StreamStats] = {}

    def new_stream(name: str) -> StreamStats:
        started.append(name)
        streams[name] = StreamStats(name=name)
        return streams[name]

    reader = _reader(SCHEMA + RECORD + RECORD + STATE, streams=streams, new_stream=new_stream)
    list(reader.messages())
    assert started == ["s"]
    assert (streams["s"].schemas, streams["s"].records_in) == (1, 2)


def test_keep_state_drops_a_state_and_sees_its_line_number():
    asked: list[tuple[object, int]] = []

    def keep_state(value: object, line_no: int) -> bool:
        asked.append((value, line_no))
        return False

    reader = _reader(SCHEMA + STATE + RECORD, keep_state=keep_state)
    assert [m["type"] for m in reader.messages()] == ["SCHEMA", "RECORD"]
    assert asked == [({"bookmarks": {"s": {"id": 1}}}, 2)]


def test_a_line_over_the_bound_names_the_connector_and_line():
    reader = _reader(
        SCHEMA + b'{"type": "STATE", "value": "' + b"x" * 200 + b'"}\n', max_line_bytes=100
    )
    with pytest.raises(LineTooLong, match=r"tap-x: line 2 is longer than the limit of 100 bytes"):
        list(reader.messages())


def test_a_malformed_line_names_the_connector_and_line_and_blank_lines_are_skipped():
    reader = _reader(SCHEMA + b"   \n" + b"{not json\n")
    with pytest.raises(ProtocolError, match=r"tap-x: line 3 is not valid JSON"):
        list(reader.messages())


def test_a_fresh_envelope_matches_nothing():
    assert Incoming().bytes_for({"type": "STATE", "value": {}}) is None
