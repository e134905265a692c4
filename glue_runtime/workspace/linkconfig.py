"""A linked connector's config: the app's config, the link's settings and credentials merged.

The supported connector's ``config`` (glue.yml, the same for every tenant) is the base. Its
strings may name ``{tenant}``, ``{flow}``, ``{connector}`` and ``{link.NAME}`` (a value of the
link's settings or credentials: ``{link.access_token}``); a string that is one placeholder
alone takes the value whole, so a number stays a number. The link's settings, then its
credentials, are merged over it (nested objects merge key by key), then the tenant's
overrides. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from glue_runtime.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_]+)(?:\.([A-Za-z0-9_]+))?\}")
_WHOLE = re.compile(r"^\{([a-z_]+)(?:\.([A-Za-z0-9_]+))?\}$")


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in: nested mappings key by key, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def _lookup(
    name: str,
    attr: str | None,
    path: str,
    names: Mapping[str, Any],
    link: Mapping[str, Any],
    where: str,
) -> Any:
    if name == "link" and attr is not None:
        if attr not in link:
            raise ConfigError(
                f"{where}: {path} uses {{link.{attr}}} but the link has no '{attr}'",
                hint=f"the link has: {', '.join(sorted(link)) or 'nothing'}; re-link it",
            )
        return link[attr]
    if attr is None and name in names:
        return names[name]
    raise ConfigError(
        f"{where}: {path} uses an unknown placeholder {{{name}{'.' + attr if attr else ''}}}",
        hint="placeholders: {tenant}, {flow}, {connector}, {link.NAME}; write {{ for a brace",
    )


def fill_placeholders(
    value: Any, names: Mapping[str, Any], link: Mapping[str, Any], where: str
) -> Any:
    """Replace the placeholders in every string of ``value``.

    ``names`` holds ``tenant``, ``flow`` and ``connector``; ``link`` the link's settings and
    credentials. An unknown placeholder is a ConfigError naming it and ``where`` (never a
    value: the link's values may be secrets).
    """

    def sub(text: str, path: str) -> Any:
        whole = _WHOLE.match(text)
        if whole:
            return _lookup(whole.group(1), whole.group(2), path, names, link, where)

        def one(m: re.Match[str]) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            return str(_lookup(m.group(1), m.group(2), path, names, link, where))

        return _PLACEHOLDER.sub(one, text)

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            return sub(node, path) if "{" in node or "}" in node else node
        if isinstance(node, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return node

    return walk(value, "")


def link_config(
    app_config: Mapping[str, Any],
    *,
    flow: str,
    tenant: str,
    connector: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config a linked connector runs with (see the module docstring for the order)."""
    link_values = {**settings, **secrets}
    names = {"tenant": tenant, "flow": flow, "connector": connector}
    base = fill_placeholders(
        app_config, names, link_values, f"flow '{flow}' connector '{connector}' config"
    )
    merged = deep_merge(deep_merge(base, settings), secrets)
    return deep_merge(merged, overrides or {})
