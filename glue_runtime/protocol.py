"""Singer messages on the wire: parse and write JSON lines with orjson.

A message is the plain dict orjson gives (``{"type": "RECORD", "stream": ..., "record": ...}``):
no wrapper objects on the hot path. Unknown message types are valid and pass through untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from glue_runtime.errors import LineTooLong, ProtocolError

RECORD = "RECORD"
SCHEMA = "SCHEMA"
STATE = "STATE"
ACTIVATE_VERSION = "ACTIVATE_VERSION"
BATCH = "BATCH"
KNOWN_TYPES = frozenset({RECORD, SCHEMA, STATE, ACTIVATE_VERSION, BATCH})

Message = dict[str, Any]

DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
EXCERPT_CHARS = 120

# Fields each known type must carry, checked once per message after parsing.
_REQUIRED: dict[str, tuple[str, ...]] = {
    RECORD: ("stream", "record"),
    SCHEMA: ("stream", "schema"),
    STATE: ("value",),
    ACTIVATE_VERSION: ("stream", "version"),
    BATCH: ("stream", "encoding", "manifest"),
}

_dumps = orjson.dumps
_loads = orjson.loads
_OPT_NEWLINE = orjson.OPT_APPEND_NEWLINE


def excerpt(line: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable excerpt of a line for error messages."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "..."


def parse_line(line: bytes, *, source: str = "input", line_no: int = 0) -> Message:
    """Parse one Singer line; raise ProtocolError naming the source, line number and an excerpt."""
    try:
        msg = _loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(
            f"{source}: line {line_no} is not valid JSON ({exc.msg}): {excerpt(line)!r}",
            hint=f"check the output of {source}; every stdout line must be one JSON object",
        ) from None
    if type(msg) is not dict:
        raise ProtocolError(
            f"{source}: line {line_no} is JSON but not an object: {excerpt(line)!r}",
            hint="Singer messages are JSON objects with a 'type' key",
        )
    mtype = msg.get("type")
    if type(mtype) is not str:
        raise ProtocolError(
            f"{source}: line {line_no} has no 'type' key: {excerpt(line)!r}",
            hint="every Singer message needs a 'type' (RECORD, SCHEMA, STATE, ...)",
        )
    if not mtype.isupper():  # the spec says types are case-insensitive
        mtype = msg["type"] = mtype.upper()
    required = _REQUIRED.get(mtype)
    if required:
        for key in required:
            if key not in msg:
                raise ProtocolError(
                    f"{source}: line {line_no}: {mtype} message has no {key!r}: {excerpt(line)!r}",
                    hint=f"a Singer {mtype} message must carry {', '.join(required)}",
                )
        if mtype == RECORD and type(msg["record"]) is not dict:
            raise ProtocolError(
                f"{source}: line {line_no}: RECORD for stream {msg['stream']!r} has a "
                f"'record' that is not an object: {excerpt(line)!r}"
            )
    return msg


def check_length(line: bytes, max_bytes: int, *, source: str, line_no: int) -> None:
    """Raise LineTooLong when a line exceeds the limit (called only for lines that hit it)."""
    if len(line) > max_bytes:
        raise LineTooLong(
            f"{source}: line {line_no} is longer than the limit of {max_bytes:,} bytes "
            f"(starts {excerpt(line[: EXCERPT_CHARS * 2])!r})",
            hint="raise it with --max-line-bytes (or max_line_bytes in the flow file) "
            "if such records are expected",
        )


_LONG_DIGITS = re.compile(rb"\d{19}")  # 19 digits: the shortest integer orjson may not keep


def has_long_number(line: bytes) -> bool:
    """True if the line holds a run of 19+ digits: an integer orjson might not keep exact."""
    return _LONG_DIGITS.search(line) is not None


def loads_exact(data: bytes | str) -> Any:
    """Parse JSON keeping integers of any size exact (orjson turns those over 64 bits into floats).

    For STATE values and state files. orjson parses unless a 19-digit run is present; then, and
    for what orjson rejects but the stdlib takes (NaN, non-UTF-8), the stdlib parses.
    """
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_DIGITS.search(raw) is None:
        try:
            return _loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def dumps_exact(value: Any, option: int = 0) -> bytes:
    """orjson.dumps, falling back to the stdlib for what orjson refuses (integers over 64 bits,
    lone surrogates)."""
    try:
        return _dumps(value, option=option)
    except TypeError:
        kwargs: dict[str, Any] = {
            "sort_keys": bool(option & orjson.OPT_SORT_KEYS),
            "indent": 2 if option & orjson.OPT_INDENT_2 else None,
            "separators": None if option & orjson.OPT_INDENT_2 else (",", ":"),
        }
        text = json.dumps(value, ensure_ascii=False, **kwargs)
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate (orjson refuses those too): escape it
            data = json.dumps(value, ensure_ascii=True, **kwargs).encode()
        return data + b"\n" if option & orjson.OPT_APPEND_NEWLINE else data


def target_state(line: bytes) -> dict[str, Any] | None:
    """The state a target emitted on one stdout line, or None if the line is not one.

    singer-sdk and singer-python targets write the bare state value (``{"bookmarks": ...}``),
    as the Singer docs' ``target >> state.json`` convention has it; some write a whole STATE
    message. Both are accepted.
    """
    try:
        value = loads_exact(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if type(value) is not dict:
        return None
    mtype = value.get("type")
    if type(mtype) is str:
        if mtype.upper() == STATE and isinstance(value.get("value"), dict):
            return value["value"]
        return None
    return value


def dump(msg: Message) -> bytes:
    """Serialise one message as a Singer line, newline included."""
    return dumps_exact(msg, _OPT_NEWLINE)


def canonical(value: Any) -> bytes:
    """A stable byte form of a JSON value (sorted keys), for comparing STATE values."""
    return dumps_exact(value, orjson.OPT_SORT_KEYS)
