"""Checking glue.yml against its JSON Schema (``glue.schema.json``), with errors for people.

jsonschema finds the problems; this module says each one as a key path
(``flows.shop.sources.crm.oauth.token_url``), what is wrong, and, for an unknown key, the
closest known one. Values are shown as written in the file (``${VAR}`` stays ``${VAR}``), so
a value taken from the environment, which may be a secret, never reaches a message.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from glue_runtime.errors import ConfigError

SCHEMA_FILE = Path(__file__).with_name("glue.schema.json")
REFERENCE = "docs/workspace.md has every key of glue.yml"
_MAX_LISTED = 10


@dataclass(frozen=True)
class Problem:
    """One thing wrong in glue.yml: where (a key path), what, and what to do."""

    path: str
    message: str
    hint: str = ""

    def line(self) -> str:
        return f"{self.path}: {self.message}" + (f" ({self.hint})" if self.hint else "")


def problems_error(file: Path, problems: Sequence[Problem]) -> ConfigError:
    """One ConfigError for every problem found (the first one's hint when there is one)."""
    if len(problems) == 1:
        p = problems[0]
        return ConfigError(f"{file}: {p.path}: {p.message}", hint=p.hint or REFERENCE)
    listed = "\n  - ".join(p.line() for p in problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    tail = f"\n  - ... and {more} more" if more > 0 else ""
    return ConfigError(f"{file} has {len(problems)} problems:\n  - {listed}{tail}", hint=REFERENCE)


@cache
def glue_schema() -> dict[str, Any]:
    """The glue.yml JSON Schema (draft 2020-12), shipped with the package."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


def key_path(parts: Iterable[str | int]) -> str:
    """``flows.shop.mappers[0].connector`` from the parts of a path into the document."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def join(path: str, key: str) -> str:
    return key if path == "(top level)" else f"{path}.{key}"


def schema_problems(doc: Any, raw: Any) -> list[Problem]:
    """What is wrong with ``doc`` (glue.yml with ``${VAR}`` expanded) against the schema;
    ``raw`` is the document as written, where the values shown in messages come from."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(glue_schema())
    found: list[Problem] = []
    for error in validator.iter_errors(doc):
        found.extend(_problems(error, _at(raw, error.absolute_path)))
    return sorted(found, key=lambda p: p.path)


def _at(raw: Any, parts: Iterable[Any]) -> Any:
    for part in parts:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}


def _type_word(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true or false"
    for kind, word in (
        (dict, "a mapping"),
        (list, "a list"),
        (str, "text"),
        (int, "a number"),
        (float, "a number"),
    ):
        if isinstance(value, kind):
            return word
    return type(value).__name__


def _problems(error: Any, raw: Any) -> list[Problem]:
    path = key_path(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(str(k) for k in error.instance if k not in known)
        return [_unknown_key(path, key, known) for key in extra]
    if kind == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        return [Problem(join(path, r), "missing: it is required") for r in missing]
    if kind == "type":
        wanted = error.validator_value
        words = [_TYPE_WORDS.get(w, w) for w in ([wanted] if isinstance(wanted, str) else wanted)]
        return [Problem(path, f"must be {' or '.join(words)}, not {_type_word(raw)}")]
    if kind in ("enum", "const"):
        options = error.validator_value if kind == "enum" else [error.validator_value]
        close = difflib.get_close_matches(str(raw), [str(o) for o in options], n=1, cutoff=0.6)
        guess = f"did you mean {close[0]!r}? " if close else ""
        return [
            Problem(
                path,
                f"{raw!r} is not allowed",
                f"{guess}one of: {', '.join(str(o) for o in options)}",
            )
        ]
    if kind in ("pattern", "minimum") and error.schema == glue_schema()["$defs"]["duration"]:
        return [
            Problem(
                path,
                f"expected seconds or a duration such as 90s, 30m or 2h, got {raw!r}",
                "0 (or nothing) turns it off",
            )
        ]
    if kind == "minLength":
        return [Problem(path, "must not be empty")]
    return [Problem(path, f"does not match the schema ({kind}: {error.validator_value!r})")]


def _unknown_key(path: str, key: str, known: list[str]) -> Problem:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close else ""
    where = "glue.yml" if path == "(top level)" else path
    return Problem(join(path, key), "unknown key", f"{guess}{where} knows: {', '.join(known)}")
