"""Parsing Singer lines: valid messages, and errors that name the source, line and excerpt."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from glue_test_helpers import read_jsonl
from scripted_run import committed, emit, line, rec, run_api, schema, state

import glue_runtime
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


# -- numbers a float cannot hold ----------------------------------------------------------------


def _value_of(v: object) -> Decimal:
    """The decimal value a parsed number stands for (a float: its shortest repr)."""
    return Decimal(repr(v)) if type(v) is float else Decimal(v)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("123456789012345678901234567890", int),
        ("-123456789012345678901234567890", int),
        ("18446744073709551617", int),
        ("-9223372036854775809", int),
        ("12345678901234567890.1234567890", Decimal),
        ("-12345678901234567890.1234567890", Decimal),
        ("1.000000000000000001", Decimal),
        ("0.1000000000000000055511151231257827", Decimal),  # not 0.1, though a float says so
        ("1E+400", Decimal),
        ("-1e400", Decimal),
        ("1.5e-400", Decimal),
        ("-1.5E-400", Decimal),
        ("0.1", float),
        ("1.10", float),
        ("-2.5e-7", float),
        ("1e100", float),
        ("12345678901234567", int),
    ],
)
def test_numbers_parse_exactly_and_dump_back_to_the_same_value(text: str, kind: type):
    line = (
        f'{{"type":"RECORD","stream":"s","record":{{"x":{text},'
        f'"deep":[{{"y":[{text}]}}],"o":{{"z":{text}}}}}}}'
    ).encode()
    rec = protocol.parse_line(line)["record"]
    for v in (rec["x"], rec["deep"][0]["y"][0], rec["o"]["z"]):
        assert type(v) is kind
        assert _value_of(v) == Decimal(text)
    again = json.loads(protocol.dump({"record": rec}), parse_float=Decimal)["record"]
    assert _value_of(again["x"]) == Decimal(text)
    assert _value_of(again["deep"][0]["y"][0]) == Decimal(text)


def test_negative_zero_stays_negative_zero():
    v = protocol.parse_line(
        b'{"type":"RECORD","stream":"s","record":{"x":-0.0,"y":1.000000000000000001}}'
    )
    assert math.copysign(1.0, v["record"]["x"]) == -1.0
    assert protocol.dump(v["record"]).startswith(b'{"x":-0.0,')


def test_the_fast_check_never_lets_a_lossy_number_through():
    """needs_exact False must mean orjson parses the line to the very same values."""
    rnd = random.Random(20261201)

    def number() -> str:
        sign = rnd.choice(["", "-"])
        whole = str(rnd.randrange(10 ** rnd.randrange(1, 25)))
        frac = (
            "." + "".join(rnd.choices("0123456789", k=rnd.randrange(1, 22)))
            if rnd.random() < 0.7
            else ""
        )
        exp = f"e{rnd.choice(['', '+', '-'])}{rnd.randrange(0, 420)}" if rnd.random() < 0.3 else ""
        return sign + whole + frac + exp

    checked = 0
    for _ in range(20_000):
        text = number()
        line = f'{{"type":"RECORD","stream":"s","record":{{"x":{text}}}}}'.encode()
        if protocol.needs_exact(line):
            assert _value_of(protocol.parse_line(line)["record"]["x"]) == Decimal(text)
            continue
        try:
            v = orjson.loads(line)["record"]["x"]
        except orjson.JSONDecodeError:  # out of a float's range: the exact parse takes it
            assert _value_of(protocol.parse_line(line)["record"]["x"]) == Decimal(text)
            continue
        assert _value_of(v) == Decimal(text), text
        checked += 1
    assert checked > 5_000  # the fast path was really exercised


@pytest.mark.parametrize(
    "line",
    [
        b'{"id":123456789012345,"at":"2025-01-01T15:39:07.483324Z","price":20.75}',
        b'{"uuid":"3f2a9e41-7c3e-4b1a-9e2d-8c1f0a6b5d4e","n":"SO00000001FD47"}',
        b'{"ms":1732000000123,"us":173200000012345,"total":83.0,"ratio":0.3333333333333}',
    ],
)
def test_ordinary_lines_take_the_fast_path(line: bytes):
    assert not protocol.needs_exact(line)


def test_nan_is_still_refused_in_messages_but_read_from_old_state_files():
    with pytest.raises(ProtocolError):
        protocol.parse_line(
            b'{"type":"RECORD","stream":"s","record":{"x":NaN,"y":1.000000000000000001}}'
        )
    assert math.isnan(protocol.loads_exact(b'{"x": NaN, "y": 1.000000000000000001}')["x"])


def test_dumps_exact_writes_decimals_and_big_integers_unquoted():
    value = {
        "d": Decimal("12345678901234567890.1234567890"),
        "i": -(2**100),
        "nan": Decimal("NaN"),
        "s": "\ud800",
        "nested": [{"e": Decimal("1E+400")}],
    }
    data = protocol.dumps_exact(value)
    assert data == (
        b'{"d":12345678901234567890.1234567890,"i":-1267650600228229401496703205376,'
        b'"nan":null,"s":"\\ud800","nested":[{"e":1E+400}]}'
    )
    assert (
        protocol.dumps_exact({1: Decimal("1.5"), None: 2**70})
        == b'{"1":1.5,"null":1180591620717411303424}'
    )
    huge = 10**5000  # past Python's int-to-text limit
    assert protocol.dumps_exact([huge]) == b"[1" + b"0" * 5000 + b"]"
    assert protocol.loads_exact(b"1" + b"0" * 5000) == Decimal(10**5000)


def test_canonical_compares_values_not_spellings():
    a = protocol.loads_exact(b'{"v": 1.0000000000000000010, "w": 12345678901234567890.0}')
    b = protocol.loads_exact(b'{"w": 12345678901234567890, "v": 1.000000000000000001}')
    assert protocol.canonical(a) == protocol.canonical(b)
    assert protocol.canonical({"v": Decimal("1.000000000000000001")}) != protocol.canonical(
        {"v": Decimal("1.000000000000000002")}
    )


# == line framing in a real run (scripted tap) =================================================


def test_lowercase_message_types_reach_targets_normalised(tmp_path: Path):
    msgs = [
        {**schema(), "type": "schema"},
        {**rec(1), "type": "record"},
        {**state(s=1), "type": "state"},
    ]
    result = run_api(tmp_path, emit(*msgs))
    assert result.ok, result.error
    sent = read_jsonl(tmp_path / "out0.jsonl")
    assert [m["type"] for m in sent] == ["SCHEMA", "RECORD", "STATE"]


def test_crlf_blank_lines_and_no_final_newline(tmp_path: Path):
    raw = (
        line(schema()).replace("\n", "\r\n")
        + "\r\n"
        + "   \n"
        + line(rec(1)).replace("\n", "\r\n")
        + line(state(s=1)).replace("\n", "\r\n")
        + line(rec(2))
        + json.dumps(state(s=2))  # no newline at EOF
    )
    result = run_api(tmp_path, [["out", raw]])
    assert result.ok, result.error
    assert result.streams["s"].records_in == result.streams["s"].records_out == 2
    assert committed(tmp_path) == {"bookmarks": {"s": 2}}
    received = (tmp_path / "out0.jsonl").read_bytes().splitlines(keepends=True)
    assert len(received) == 5 and all(x.endswith(b"\n") for x in received)


def test_non_utf8_bytes_fail_with_the_line_number(tmp_path: Path):
    bad = b'{"type": "RECORD", "stream": "s", "record": {"id": 2, "n": "\xff\xfe"}}\n'
    steps = [*emit(schema(), rec(1), state(s=1)), ["outhex", bad.hex()], *emit(state(s=2))]
    result = run_api(tmp_path, steps)
    assert isinstance(result.error, glue_runtime.ProtocolError)
    assert "line 4 is not valid JSON" in str(result.error)
    assert result.exit_code == 4
    assert committed(tmp_path) == {"bookmarks": {"s": 1}}
