"""Dotted paths into a webhook's JSON body: ``data.object.metadata.tenant``, ``0.portalId``,
``*.subscriptionType`` (``*``: every element of a list, or every value of an object)."""

from __future__ import annotations

from typing import Any


def parse(path: str) -> tuple[str, ...]:
    """A path's segments; ValueError for an empty path or an empty segment."""
    parts = tuple(path.split("."))
    if not path or any(not p for p in parts):
        raise ValueError(f"{path!r} is not a dotted path such as data.object.id")
    return parts


def _step(value: Any, part: str) -> list[Any]:
    if part == "*":
        if isinstance(value, list):
            return list(value)
        return list(value.values()) if isinstance(value, dict) else []
    if isinstance(value, dict):
        return [value[part]] if part in value else []
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return [value[int(part)]]
    return []


def pick(value: Any, path: tuple[str, ...]) -> list[Any]:
    """Every value at ``path`` in ``value`` (none when the path is absent)."""
    found = [value]
    for part in path:
        found = [v for f in found for v in _step(f, part)]
    return found


def scalars(values: list[Any]) -> list[str]:
    """The distinct strings and numbers among ``values``, as text, in first-seen order."""
    seen: dict[str, None] = {}
    for v in values:
        if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v) != "":
            seen.setdefault(str(v), None)
    return list(seen)
