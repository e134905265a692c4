"""Singer messages on the wire: parse and write JSON lines with orjson, numbers exact.

A message is the plain dict orjson gives (``{"type": "RECORD", "stream": ..., "record": ...}``):
no wrapper objects on the hot path. Unknown message types are valid and pass through untouched.
Numbers stay exact: a line that may hold a number a float cannot (needs_exact) is parsed into
int / float / Decimal values (exact_number), and dump writes Decimals and big integers back as
their digits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import MAX_PREC, Decimal, localcontext
from typing import Any

import orjson

from glue_runtime.errors import LineTooLong, NestedTooDeep, ProtocolError
from glue_runtime.secrets import Redactor

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


def excerpt(line: bytes | str, limit: int = EXCERPT_CHARS, redactor: Redactor | None = None) -> str:
    """A short, printable excerpt of a line for error messages.

    Secrets are masked before the line is cut: cut first, a secret across the cut would no
    longer be recognised and its first characters would show. Only a window of a long line is
    decoded and searched, wide enough that no secret can reach into the excerpt from beyond it.
    """
    margin = redactor.max_len if redactor else 0
    size = limit * 4 + margin
    while True:
        chunk = line[:size]
        whole = len(chunk) == len(line)
        text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        if whole:
            text = text.rstrip("\r\n")
        if redactor:
            text = redactor.redact(text)
        if whole:
            return text if len(text) <= limit else text[:limit] + "..."
        if len(text) - margin > limit:  # a secret cut at the window's end lies past the excerpt
            return text[:limit] + "..."
        size *= 2


def _shown(line: bytes, redactor: Redactor | None) -> str:
    return repr(excerpt(line, redactor=redactor))


def parse_line(
    line: bytes, *, source: str = "input", line_no: int = 0, redactor: Redactor | None = None
) -> Message:
    """Parse one Singer line; raise ProtocolError naming the source, line number and an excerpt
    (with the job's secrets masked, when a redactor is given)."""
    try:
        msg = loads_line(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(
            f"{source}: line {line_no} is not valid JSON ({exc.msg}): {_shown(line, redactor)}",
            hint=f"check the output of {source}; every stdout line must be one JSON object",
        ) from None
    if type(msg) is not dict:
        raise ProtocolError(
            f"{source}: line {line_no} is JSON but not an object: {_shown(line, redactor)}",
            hint="Singer messages are JSON objects with a 'type' key",
        )
    mtype = msg.get("type")
    if type(mtype) is not str:
        raise ProtocolError(
            f"{source}: line {line_no} has no 'type' key: {_shown(line, redactor)}",
            hint="every Singer message needs a 'type' (RECORD, SCHEMA, STATE, ...)",
        )
    if not mtype.isupper():  # the spec says types are case-insensitive
        mtype = msg["type"] = mtype.upper()
    required = _REQUIRED.get(mtype)
    if required:
        for key in required:
            if key not in msg:
                raise ProtocolError(
                    f"{source}: line {line_no}: {mtype} message has no {key!r}: "
                    f"{_shown(line, redactor)}",
                    hint=f"a Singer {mtype} message must carry {', '.join(required)}",
                )
        if mtype == RECORD and type(msg["record"]) is not dict:
            raise ProtocolError(
                f"{source}: line {line_no}: RECORD for stream {msg['stream']!r} has a "
                f"'record' that is not an object: {_shown(line, redactor)}"
            )
    return msg


def check_length(
    line: bytes,
    max_bytes: int,
    *,
    source: str,
    line_no: int,
    redactor: Redactor | None = None,
) -> None:
    """Raise LineTooLong when a line exceeds the limit (called only for lines that hit it)."""
    if len(line) > max_bytes:
        raise LineTooLong(
            f"{source}: line {line_no} is longer than the limit of {max_bytes:,} bytes "
            f"(starts {_shown(line, redactor)})",
            hint="raise it with --max-line-bytes (or max_line_bytes in the flow file) "
            "if such records are expected",
        )


# -- numbers a float cannot hold ------------------------------------------------------------
#
# orjson parses every JSON number with a fraction or exponent into a float, and integers past
# 64 bits into floats too, so such a number would lose digits as soon as a message is written
# out again. Most lines hold no such number, so one cheap byte-level check decides whether the
# exact (slower) parse is needed. It maps digits and "." to "0", "e"/"E" to "e" and keeps "-",
# then looks for what orjson may lose:
#   - a run of 16 digits or dots: an integer of 19+ digits (orjson keeps only 64-bit ones), or
#     a mantissa of 16+ digits, with a "." or before an exponent (a float holds 15 for sure),
#   - "<digit>e-<3 digits>": a negative exponent of 3+ digits (1.5e-400 underflows to 0.0).
# One translate and two substring searches: each search costs a fair part of what orjson's
# parse of the line costs (see docs/performance.md), so the needles are as few as the cases
# allow.
# A positive exponent too big for a float (1E+400) makes orjson fail instead, so callers that
# see orjson fail retry with the exact parse (see loads_line). False positives (long digit runs
# inside strings, 16-digit integers, a float's 17-digit repr) only cost the exact parse's time;
# a regex to weed them out costs about as much as that parse (sre is slow on such patterns).
_FLAG_TABLE = bytes(
    ord("0") if chr(c) in "0123456789." else ord("e") if chr(c) in "eE" else c if c == 45 else 32
    for c in range(256)
)
_FLAG_RUN = b"0" * 16
_FLAG_EXP = b"0e-000"
_BIG_EXPONENT = re.compile(rb"\d[eE]\+?\d{3}")
_INT_TEXT_LIMIT = 4000  # digits; Python refuses int(text) past 4,300 (sys.int_info)


def needs_exact(line: bytes) -> bool:
    """True if the line may hold a number orjson would not parse exactly (see above)."""
    flagged = line.translate(_FLAG_TABLE)
    return _FLAG_RUN in flagged or _FLAG_EXP in flagged


# Kept for callers of the old name: the check now covers decimals and exponents too.
has_long_number = needs_exact


def exact_number(text: str) -> float | Decimal:
    """A JSON number with a fraction or exponent: a float when the float is the same decimal
    value as the text (shortest repr, so 0.1 stays a float), else a Decimal that keeps it."""
    f = float(text)
    if len(text) < 16 and "e" not in text and "E" not in text:
        return f  # at most 15 significant digits and no exponent: a float holds it
    r = repr(f)
    if r == text or (f - f == 0.0 and Decimal(r) == Decimal(text)):  # finite, the same value
        return f
    return Decimal(text)


def _exact_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _INT_TEXT_LIMIT else Decimal(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _stdlib_exact(raw: bytes | str, *, constants: bool) -> Any:
    kwargs: dict[str, Any] = {"parse_float": exact_number}
    if not constants:
        kwargs["parse_constant"] = _no_constant
    try:
        return json.loads(raw, **kwargs)
    except ValueError as exc:
        if "int" not in str(exc) or "digits" not in str(exc):
            raise
        return json.loads(raw, parse_int=_exact_int, **kwargs)  # an integer of 4,300+ digits


def loads_line(line: bytes) -> Any:
    """Parse one line as JSON, numbers exact: orjson, or the exact parse when needs_exact says
    so, or when orjson fails on a number too big for a float. Raises orjson.JSONDecodeError
    (a ValueError) for what is not JSON, as orjson does: NaN and Infinity included."""
    if needs_exact(line):
        try:
            return _stdlib_exact(line, constants=False)
        except (ValueError, RecursionError):
            pass  # report orjson's error below
    else:
        try:
            return _loads(line)
        except orjson.JSONDecodeError:
            if _BIG_EXPONENT.search(line) is None:
                raise
            try:
                return _stdlib_exact(line, constants=False)
            except (ValueError, RecursionError):
                pass
    return _loads(line)


def loads_exact(data: bytes | str) -> Any:
    """Parse JSON keeping every number exact (int, float or Decimal; see exact_number).

    For STATE values and state files: like loads_line, but it also takes what orjson rejects
    and the stdlib accepts (NaN, non-UTF-8), as state files written before may hold it.
    """
    raw = data.encode() if isinstance(data, str) else data
    if not needs_exact(raw):
        try:
            return _loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        return _stdlib_exact(raw, constants=True)
    except ValueError:
        return _loads(raw)  # not JSON: orjson's error (callers catch orjson.JSONDecodeError)
    except RecursionError:  # orjson stops at 1,024 levels; the stdlib recurses until it fails
        raise NestedTooDeep(_TOO_DEEP_TO_READ) from None


_TOO_DEEP_TO_READ = "JSON nested too deep to read (the limit is about 1,000 levels)"
_TOO_DEEP_TO_WRITE = "a value nested too deep to write as JSON (the limit is about 1,000 levels)"


def _exact_default(value: Any) -> Any:
    """orjson's ``default``: a Decimal goes out as its own digits, unquoted."""
    if isinstance(value, Decimal):
        if value.is_finite():
            return orjson.Fragment(str(value))
        return None  # NaN / Infinity are not JSON: null, as orjson writes a float NaN
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


def _fragments(value: Any, default: Callable[[Any], Any]) -> Any:
    """A copy of ``value`` that orjson can write: integers past 64 bits, Decimals and strings
    with lone surrogates become orjson.Fragment (already-serialised JSON)."""
    t = type(value)
    if t is dict:
        return {k if type(k) is str else _key(k): _fragments(v, default) for k, v in value.items()}
    if t is list or t is tuple:
        return [_fragments(v, default) for v in value]
    if t is int:
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
        return orjson.Fragment(str(value) if value.bit_length() < 13_000 else _int_text(value))
    if t is str:
        try:
            value.encode()
        except UnicodeEncodeError:
            return orjson.Fragment(json.dumps(value))  # \ud800 escapes, as the stdlib writes
        return value
    if isinstance(value, Decimal):
        return default(value)
    if isinstance(value, dict):
        return {k if type(k) is str else _key(k): _fragments(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fragments(v, default) for v in value]
    return value


def _key(key: Any) -> Any:
    """A dict key as the stdlib writes it (orjson takes only strings): 1 -> "1", True ->
    "true", None -> "null"; anything else stays, for the stdlib to refuse."""
    if key is True or key is False or key is None:
        return json.dumps(key)
    if isinstance(key, (int, float)):
        return json.dumps(key)
    if isinstance(key, Decimal):
        return str(key)
    return key


def _int_text(value: int) -> str:
    """Digits of an integer past Python's int-to-text limit (Decimal has no such limit)."""
    with localcontext() as ctx:
        ctx.prec = MAX_PREC
        return str(Decimal(value))


def dumps_exact(
    value: Any, option: int = 0, default: Callable[[Any], Any] = _exact_default
) -> bytes:
    """orjson.dumps that writes every number exactly: a Decimal as its digits (unquoted), an
    integer past 64 bits as its digits; also strings with lone surrogates (escaped).

    orjson writes Decimals through ``default`` at full speed; what orjson refuses outright
    (big integers, lone surrogates, keys that are not strings) takes a copy with those values
    as fragments and keys as the stdlib writes them; the stdlib is the last resort.
    """
    try:
        return _dumps(value, default=default, option=option)
    except TypeError:
        pass
    try:
        return _dumps_slow(value, option, default)
    except RecursionError:  # orjson stops at 255 levels; the copy and the stdlib near 1,000
        raise NestedTooDeep(_TOO_DEEP_TO_WRITE) from None


def _dumps_slow(value: Any, option: int, default: Callable[[Any], Any]) -> bytes:
    """dumps_exact for what orjson refuses as it is (see there)."""
    try:
        return _dumps(_fragments(value, default), default=default, option=option)
    except TypeError:
        pass
    kwargs: dict[str, Any] = {
        "sort_keys": bool(option & orjson.OPT_SORT_KEYS),
        "indent": 2 if option & orjson.OPT_INDENT_2 else None,
        "separators": None if option & orjson.OPT_INDENT_2 else (",", ":"),
        "default": _stdlib_default,
    }
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate (orjson refuses those too): escape it
        data = json.dumps(value, ensure_ascii=True, **kwargs).encode()
    return data + b"\n" if option & orjson.OPT_APPEND_NEWLINE else data


def _stdlib_default(value: Any) -> Any:
    """The last resort (keys with lone surrogates): the stdlib cannot write a Decimal unquoted, so a
    Decimal that is not a float's value goes out as a string of its digits (none lost)."""
    if isinstance(value, Decimal):
        f = float(value)
        return f if f - f == 0.0 and Decimal(repr(f)) == value else str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


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
        state = value.get("value")
        if mtype.upper() == STATE and isinstance(state, dict):
            return state
        return None
    return value


def dump(msg: Message) -> bytes:
    """Serialise one message as a Singer line, newline included."""
    try:
        return dumps_exact(msg, _OPT_NEWLINE)
    except NestedTooDeep as exc:
        stream = f" for stream {msg['stream']!r}" if "stream" in msg else ""
        raise NestedTooDeep(f"{msg.get('type')} message{stream}: {exc}") from None


def _canonical_decimal(value: Any) -> Any:
    """A Decimal in one spelling per value: 1.50 and 1.5E0 alike (a target may re-spell the
    STATE it echoes), an integral one as the integer's digits."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return _exact_default(value)
    with localcontext() as ctx:
        ctx.prec = max(28, len(value.as_tuple().digits))
        if value == value.to_integral_value() and value.adjusted() < _INT_TEXT_LIMIT:
            return orjson.Fragment(str(int(value)))
        return orjson.Fragment(str(value.normalize()))


def canonical(value: Any) -> bytes:
    """A stable byte form of a JSON value (sorted keys), for comparing STATE values."""
    return dumps_exact(value, orjson.OPT_SORT_KEYS, _canonical_decimal)
