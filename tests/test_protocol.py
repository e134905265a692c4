"""Parsing Singer lines: valid messages, and errors that name the source, line and excerpt."""

from __future__ import annotations

import pytest

from glue_runtime import protocol
from glue_runtime.errors import LineTooLong, ProtocolError


def test_parses_known_and_unknown_types():
    rec = protocol.parse_line(b'{"type":"RECORD","stream":"s","record":{"a":1}}\n')
    assert rec == {"type": "RECORD", "stream": "s", "record": {"a": 1}}
    custom = protocol.parse_line(b'{"type":"TRACE","x":1}')
    assert custom == {"type": "TRACE", "x": 1}  # unknown types pass untouched


def test_types_are_case_insensitive():
    assert protocol.parse_line(b'{"type":"state","value":{}}')["type"] == "STATE"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (b'{"type": "RECORD", "stream": oops', "line 7 is not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"stream": "s"}', "has no 'type'"),
        (b'{"type": "RECORD", "record": {}}', "RECORD message has no 'stream'"),
        (b'{"type": "SCHEMA", "stream": "s"}', "SCHEMA message has no 'schema'"),
        (b'{"type": "RECORD", "stream": "s", "record": 5}', "not an object"),
    ],
)
def test_malformed_lines_name_source_line_and_excerpt(line: bytes, needle: str):
    with pytest.raises(ProtocolError) as err:
        protocol.parse_line(line, source="tap-x", line_no=7)
    text = str(err.value)
    assert text.startswith("tap-x: line 7")
    assert needle in text


def test_excerpt_is_bounded():
    line = b'{"type": "RECORD", "bad": ' + b"x" * 10000
    with pytest.raises(ProtocolError) as err:
        protocol.parse_line(line, source="tap-x", line_no=1)
    assert len(str(err.value)) < 400


def test_check_length():
    protocol.check_length(b"x" * 10, 10, source="t", line_no=1)
    with pytest.raises(LineTooLong, match="longer than the limit of 10 bytes"):
        protocol.check_length(b"x" * 11, 10, source="t", line_no=3)


def test_dump_round_trips_and_canonical_sorts_keys():
    msg = {"type": "STATE", "value": {"b": 1, "a": 2}}
    assert protocol.parse_line(protocol.dump(msg)) == msg
    assert protocol.dump(msg).endswith(b"\n")
    assert protocol.canonical({"b": 1, "a": 2}) == protocol.canonical({"a": 2, "b": 1})


def test_target_state_accepts_bare_values_and_state_messages():
    assert protocol.target_state(b'{"bookmarks": {"a": 1}}\n') == {"bookmarks": {"a": 1}}
    assert protocol.target_state(b'{"type": "STATE", "value": {"x": 1}}') == {"x": 1}
    assert protocol.target_state(b'{"type": "RECORD", "stream": "s", "record": {}}') is None
    assert protocol.target_state(b"done writing") is None
    assert protocol.target_state(b"[1]") is None
