"""Recording an installed connector in glue.yml's ``connectors:`` section, as text.

glue.yml is the builder's file, versioned, with their comments and their order: loading it
and dumping it again would lose both. So the ``connectors:`` block is edited as lines (the
connector's entry replaced, or appended to the block, or the block appended to the file), and
the result is parsed and compared with what was meant before it is written (atomically): an
edit that would change anything else is refused with the lines to add by hand.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from glue_runtime.errors import ConfigError

_BLOCK = re.compile(r"connectors\s*:\s*(#.*)?$")
_EMPTY_INLINE = re.compile(r"connectors\s*:\s*(\{\s*\}|null|~)\s*(#.*)?$")
_PLAIN = re.compile(r"[A-Za-z0-9_./~][A-Za-z0-9_./~=<>!@:+-]*")


def scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when that reads back the same, else double-quoted."""
    if _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)


def entry_lines(name: str, pip_url: str, executables: Sequence[str], indent: str) -> list[str]:
    exes = ", ".join(scalar(e) for e in executables)
    child = indent + (indent or "  ")
    return [
        f"{indent}{scalar(name)}:\n",
        f"{child}pip_url: {scalar(pip_url)}\n",
        f"{child}executables: [{exes}]\n",
    ]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _content(line: str) -> bool:
    """A line that holds YAML (not blank, not only a comment)."""
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _block(lines: list[str]) -> tuple[int, int] | None:
    """(line of ``connectors:``, end of its indented content), or None when there is none."""
    for start, line in enumerate(lines):
        if _BLOCK.fullmatch(line.rstrip("\n")):
            end = start + 1
            for k in range(start + 1, len(lines)):
                if _content(lines[k]) and not lines[k][0].isspace():
                    break
                if _content(lines[k]):
                    end = k + 1
            return start, end
    return None


def _entry(lines: list[str], start: int, end: int, name: str) -> tuple[int, int, str]:
    """Where ``name``'s entry is in the block (start == end when absent), and the indent."""
    body = [k for k in range(start + 1, end) if _content(lines[k])]
    indent = _indent(lines[body[0]]) if body else "  "
    keys = {name, json.dumps(name), f"'{name}'"}
    for k in body:
        line = lines[k]
        if _indent(line) == indent and line.strip().split(":", 1)[0].strip() in keys:
            stop = k + 1
            for j in range(k + 1, end):
                if _content(lines[j]) and len(_indent(lines[j])) <= len(indent):
                    break
                if _content(lines[j]):
                    stop = j + 1
            return k, stop, indent
    return end, end, indent


def with_connector(text: str, name: str, pip_url: str, executables: Sequence[str]) -> str:
    """glue.yml's text with the entry for ``name`` set (everything else as it was)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines = ["connectors:\n" if _EMPTY_INLINE.fullmatch(ln.rstrip("\n")) else ln for ln in lines]
    found = _block(lines)
    if found is None and any(re.match(r"connectors\s*:", line) for line in lines):
        raise _by_hand(name, pip_url, executables, "glue.yml")
    if found is None:
        gap = ["\n"] if lines and lines[-1].strip() else []
        return "".join(
            [*lines, *gap, "connectors:\n", *entry_lines(name, pip_url, executables, "  ")]
        )
    start, end = found
    at, stop, indent = _entry(lines, start, end, name)
    lines[at:stop] = entry_lines(name, pip_url, executables, indent)
    return "".join(lines)


def _expected(before: Any, name: str, pip_url: str, executables: Sequence[str]) -> Any:
    doc = dict(before or {})
    connectors = dict(doc.get("connectors") or {})
    connectors[name] = {"pip_url": pip_url, "executables": list(executables)}
    doc["connectors"] = connectors
    return doc


def edited(path: Path, name: str, pip_url: str, executables: Sequence[str]) -> str | None:
    """The glue.yml at ``path`` with ``connectors: {name: {pip_url, executables}}`` set, checked
    by parsing it back; None when it already says that.

    A glue.yml whose ``connectors:`` block cannot be edited as lines (a flow-style mapping,
    say) is a ConfigError with the entry to add by hand.
    """
    text = path.read_text()
    try:
        new = with_connector(text, name, pip_url, executables)
    except ConfigError as exc:
        raise _by_hand(name, pip_url, executables, str(path)) from exc
    if new == text:
        return None
    want = _expected(yaml.safe_load(text), name, pip_url, executables)
    try:
        ok = yaml.safe_load(new) == want
    except yaml.YAMLError:
        ok = False
    if not ok:
        raise _by_hand(name, pip_url, executables, str(path))
    return new


def _by_hand(name: str, pip_url: str, executables: Sequence[str], where: str) -> ConfigError:
    by_hand = "".join(entry_lines(name, pip_url, executables, "  "))
    return ConfigError(
        f"could not add connector {name!r} to {where}'s connectors: section without "
        "changing something else in it (is it written in flow style, {...}?)",
        hint=f"write it in block style, with this entry in it:\nconnectors:\n{by_hand}",
    )


def raw_connectors(path: Path) -> dict[str, Any]:
    """glue.yml's ``connectors:`` as written (``${VAR}`` not filled in)."""
    doc = yaml.safe_load(path.read_text()) or {}
    found = doc.get("connectors") if isinstance(doc, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
