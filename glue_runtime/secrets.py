"""Keeping secrets out of logs, errors and tracebacks.

A setting is secret when the connector's settings schema marks it (``secret: true`` as singer-sdk
does, or ``writeOnly``) or when its name says so (password, token, secret, api key, dsn...). The
password of a URL (``postgresql://user:pw@host/db``) is secret in any setting, whatever its name.
Every line glue_runtime logs or relays from a connector passes through a :class:`Redactor`
holding the values of the job's secrets, in every form they are printed in: as is, JSON-escaped,
percent-encoded (in a URL) and inside base64 (an HTTP Basic ``Authorization`` header).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
_SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|apikey|private[_-]?key|credential|dsn|auth"
    r"|session|cookie|signature)",
    re.IGNORECASE,
)
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words
_MIN_BASE64_CORE = 6  # base64 fragments shorter than this could match ordinary words
# scheme://netloc: the userinfo is what comes before the netloc's last "@"
_URL_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#\s]+)")
# name=value pairs: libpq and ODBC connection strings, URL query strings
_PAIR = re.compile(r"([A-Za-z_][\w.-]*)\s*=\s*([^\s;&'\"]+)")
_PAIR_NAMES = frozenset({"pwd", "key", "sig", "access_token", "client_secret"})
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def embedded_secrets(text: str) -> set[str]:
    """The secrets written inside a string: a URL's password (``scheme://user:pw@host``), and
    the value of a secret-looking ``name=value`` pair (``password=pw`` in a libpq or ODBC
    connection string, ``?api_key=k`` in a URL); each as written and percent-decoded."""
    found = set()
    if "://" in text:
        for m in _URL_NETLOC.finditer(text):
            userinfo, at, _ = m.group(1).rpartition("@")
            if at and ":" in userinfo:
                found.add(userinfo.partition(":")[2])
    if "=" in text:
        for m in _PAIR.finditer(text):
            name = m.group(1).lower()
            if name in _PAIR_NAMES or is_secret_name(name):
                found.add(m.group(2))
    found |= {unquote(v) for v in found}
    return {v for v in found if len(v) >= _MIN_SECRET_LEN}


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
    """Every string value in a config whose key is secret by schema or by name, and every
    password written in a URL (a DSN), whatever its key."""
    names = set(secret_names)
    values: set[str] = set()

    def walk(node: Any, secret: bool) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, secret or key in names or is_secret_name(str(key)))
        elif isinstance(node, list):
            for item in node:
                walk(item, secret)
        elif isinstance(node, str):
            if secret and len(node) >= _MIN_SECRET_LEN:
                values.add(node)
            values.update(embedded_secrets(node))

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
        if isinstance(node, str):
            for pw in embedded_secrets(node):
                node = node.replace(pw, MASK)
        return node

    return walk(config, False)


def _printed_forms(value: str) -> set[str]:
    """The ways a secret shows up in output: as is, JSON-escaped, URL-encoded, line by line.

    Connectors print configs with json.dumps (quotes and backslashes escaped), a password in a
    URL is percent-encoded, and logs are redacted one line at a time, so each line of a
    multi-line secret (a PEM key) is masked too. A URL's password is a secret of its own.
    """
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        *embedded_secrets(value),
    }
    if "\n" in value:
        forms.update(line.strip() for line in value.splitlines())
    return {f for f in forms if len(f) >= _MIN_SECRET_LEN}


def _base64_cores(value: str) -> set[str]:
    """The base64 characters that encode only the value's bytes, at each of the three byte
    alignments it can have inside a longer encoded text (``user:password`` in a Basic
    ``Authorization`` header, a config encoded whole), standard and URL-safe alphabets."""
    raw = value.encode()
    cores: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode().rstrip("=")
        start = -(-8 * pad // 6)  # the first character holding no pad bit
        end = 8 * (pad + len(raw)) // 6  # past the last character holding only value bits
        core = encoded[start:end]
        if len(core) >= _MIN_BASE64_CORE:
            cores.update((core, core.replace("+", "-").replace("/", "_")))
    return cores


class Redactor:
    """Replaces known secret values in text. Cheap when there are none."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._cores: set[str] = set()  # base64 fragments: the whole base64 word is masked
        self._pattern: re.Pattern[str] | None = None
        self._forms: tuple[str, ...] = ()
        self.max_len = 0  # the longest text one secret can cover (see excerpt_window)
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        values = [v for v in values if v]
        new = {form for v in values for form in _printed_forms(v)}
        cores = {c for v in values if len(v) >= _MIN_BASE64_CORE for c in _base64_cores(v)}
        if not (new - self._values or cores - self._cores):
            return
        self._values |= new
        self._cores |= cores - self._values
        ordered = sorted(self._values | self._cores, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        self._forms = tuple(ordered)
        # a base64 word holding a secret is longer than the secret: 4/3 of it, plus the rest
        self.max_len = max(len(v) for v in ordered) * 2 + 8

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        for form in self._forms:  # a substring test per form: 2-3x faster than the regex
            if form in text:
                break
        else:
            return text
        if not self._cores:
            return pattern.sub(MASK, text)
        out = []
        done = 0  # text[:done] is written
        for m in pattern.finditer(text):
            start, end = m.span()
            if start < done:  # overlaps a masked base64 word: mask its tail with it
                done = max(done, end)
                continue
            if m.group() in self._cores:  # mask the whole base64 word around the fragment
                while start > done and text[start - 1] in _BASE64_CHARS:
                    start -= 1
                while end < len(text) and text[end] in _BASE64_CHARS:
                    end += 1
                while end < len(text) and text[end] == "=":
                    end += 1
            out.append(text[done:start])
            out.append(MASK)
            done = end
        out.append(text[done:])
        return "".join(out)

    def __bool__(self) -> bool:
        return self._pattern is not None
