"""Keeping secrets out of logs, errors and tracebacks.

A setting is secret when the connector's settings schema marks it (``secret: true`` as singer-sdk
does, or ``writeOnly``) or when its name says so (password, token, secret, api key, dsn...). Every
line glue_runtime logs or relays from a connector passes through a :class:`Redactor` holding the
values of the job's secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|apikey|private[_-]?key|credential|dsn|auth"
    r"|session|cookie|signature)",
    re.IGNORECASE,
)
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def secret_paths_from_schema(schema: Mapping[str, Any] | None) -> set[str]:
    """Top-level and nested setting names a settings schema marks secret."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, Mapping):
            return
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, Mapping):
                if prop.get("secret") or prop.get("writeOnly") or prop.get("sensitive"):
                    found.add(name)
                walk(prop)
                walk(prop.get("items"))

    walk(schema)
    return found


def secret_values(config: Any, secret_names: Iterable[str] = ()) -> set[str]:
    """Every string value in a config whose key is secret by schema or by name."""
    names = set(secret_names)
    values: set[str] = set()

    def walk(node: Any, secret: bool) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, secret or key in names or is_secret_name(str(key)))
        elif isinstance(node, list):
            for item in node:
                walk(item, secret)
        elif secret and isinstance(node, str) and len(node) >= _MIN_SECRET_LEN:
            values.add(node)

    walk(config, False)
    return values


def redact_config(config: Any, secret_names: Iterable[str] = ()) -> Any:
    """A copy of a config with secret values replaced by ``***``, for display."""
    names = set(secret_names)

    def walk(node: Any, secret: bool) -> Any:
        if isinstance(node, Mapping):
            return {
                k: walk(v, secret or k in names or is_secret_name(str(k))) for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v, secret) for v in node]
        if secret and node is not None and not isinstance(node, bool):
            return MASK
        return node

    return walk(config, False)


def _printed_forms(value: str) -> set[str]:
    """The ways a secret shows up in output: as is, JSON-escaped, and line by line.

    Connectors print configs with json.dumps (quotes and backslashes escaped), and logs are
    redacted one line at a time, so each line of a multi-line secret (a PEM key) is masked too.
    """
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    if "\n" in value:
        forms.update(line.strip() for line in value.splitlines())
    return {f for f in forms if len(f) >= _MIN_SECRET_LEN}


class Redactor:
    """Replaces known secret values in text. Cheap when there are none."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        new = {form for v in values if v for form in _printed_forms(v)}
        if not new - self._values:
            return
        self._values |= new
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def __bool__(self) -> bool:
        return self._pattern is not None
