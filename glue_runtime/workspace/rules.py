"""The rules of glue.yml that its JSON Schema cannot say, each a named :class:`Problem`.

They run on the document once it matches the schema: ids usable in state keys and on the
command line, one id per connector in a flow, a source in every flow, an OAuth block that
fits its grant (a redirect URI the callback listener can serve), the files a flow names
existing, and placeholders that :mod:`~glue_runtime.workspace.linkconfig` knows.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from glue_runtime.workspace.configschema import Problem

ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# as glue_runtime.workspace.linkconfig reads them (other braces stay literal there too)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_]+)(?:\.([A-Za-z0-9_]+))?\}")
PLACEHOLDERS = ("tenant", "flow", "connector", "link")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def rule_problems(doc: dict[str, Any], root: Path) -> list[Problem]:
    """Every rule broken by ``doc`` (glue.yml, ``${VAR}`` expanded) in the workspace ``root``."""
    found: list[Problem] = []
    for name, flow in (doc.get("flows") or {}).items():
        found.extend(_flow_problems(str(name), flow or {}, root))
    return found


def _flow_problems(name: str, flow: dict[str, Any], root: Path) -> list[Problem]:
    at = f"flows.{name}"
    found: list[Problem] = []
    if not ID.match(name):
        found.append(_bad_id(at, "flow name", name))
    sources = flow.get("sources") or {}
    targets = flow.get("targets") or {}
    if not sources:
        found.append(
            Problem(
                f"{at}.sources",
                "the flow has no source",
                f"add one: {at}.sources.NAME: {{connector: tap-NAME}}",
            )
        )
    for cid in sorted(set(sources) & set(targets)):
        found.append(
            Problem(
                f"{at}.targets.{cid}",
                f"'{cid}' is both a source and a target of the flow",
                "give the target its own id: links and state keys name a connector by it",
            )
        )
    for section, members in (("sources", sources), ("targets", targets)):
        for cid, body in members.items():
            where = f"{at}.{section}.{cid}"
            found.extend(_connector_problems(where, str(cid), body or {}, root))
    for key in ("field_map", "etl"):
        found.extend(_missing_file(f"{at}.{key}", flow.get(key), root))
    return found


def _connector_problems(where: str, cid: str, body: dict[str, Any], root: Path) -> list[Problem]:
    found: list[Problem] = []
    if not ID.match(cid):
        found.append(_bad_id(where, "connector id", cid))
    found.extend(_oauth_problems(where, body))
    for key in ("field_map", "catalog"):
        found.extend(_missing_file(f"{where}.{key}", body.get(key), root))
    for path, text in _strings(body.get("config") or {}, f"{where}.config"):
        found.extend(_placeholder_problems(path, text))
    return found


def _oauth_problems(where: str, body: dict[str, Any]) -> list[Problem]:
    oauth = body.get("oauth")
    auth = body.get("auth") or ("oauth2" if oauth else "none")
    if auth == "oauth2" and not oauth:
        return [
            Problem(
                f"{where}.oauth",
                "auth: oauth2 needs an oauth block",
                "give its token_url, client_id, scope and (for the authorization code grant) "
                "authorize_url and redirect_uri",
            )
        ]
    if not oauth:
        return []
    if auth != "oauth2":
        return [
            Problem(
                f"{where}.auth",
                f"auth is {auth} but the connector has an oauth block",
                "write auth: oauth2, or remove the oauth block",
            )
        ]
    found: list[Problem] = []
    if oauth.get("grant", "authorization_code") == "client_credentials":
        return found
    if not oauth.get("authorize_url"):
        found.append(
            Problem(
                f"{where}.oauth.authorize_url",
                "missing: the authorization code grant sends the tenant there",
                "or write grant: client_credentials for a server-to-server client",
            )
        )
    found.extend(_redirect_problems(f"{where}.oauth.redirect_uri", oauth.get("redirect_uri")))
    return found


def _redirect_problems(where: str, uri: str | None) -> list[Problem]:
    """The callback must reach the listener (http on a loopback host with a fixed port) or be
    https (a builder's own web app that calls finish_link)."""
    example = "such as http://127.0.0.1:8765/callback, exactly as registered with the provider"
    if not uri:
        return [Problem(where, "missing: the authorization code grant needs one", example)]
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return []
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        try:
            port = parts.port
        except ValueError:
            port = None
        if port:
            return []
        return [Problem(where, f"{uri!r} has no port for the callback listener", example)]
    return [
        Problem(
            where,
            f"{uri!r} is neither https nor http on 127.0.0.1/localhost",
            f"a plain-http callback on another host would carry the code in clear; {example}",
        )
    ]


def _missing_file(where: str, value: Any, root: Path) -> list[Problem]:
    if not value:
        return []
    path = root / str(value)
    if path.is_file():
        return []
    folder = path.parent
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    guess = f"did you mean {str(Path(str(value)).with_name(close[0]))!r}? " if close else ""
    return [
        Problem(
            where,
            f"no file {str(value)!r} in {root}",
            f"{guess}paths in glue.yml are relative to the workspace folder",
        )
    ]


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]")


def _placeholder_problems(path: str, text: str) -> list[Problem]:
    found: list[Problem] = []
    for m in _PLACEHOLDER.finditer(text):
        name, attr = m.group(1), m.group(2)
        if name is None or (name == "link" and attr) or (name in PLACEHOLDERS[:3] and not attr):
            continue
        written = m.group(0)
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1, cutoff=0.6)
        guess = (
            f"did you mean {{{close[0]}{'.NAME' if close[0] == 'link' else ''}}}? " if close else ""
        )
        found.append(
            Problem(
                path,
                f"unknown placeholder {written}",
                f"{guess}placeholders: {{tenant}}, {{flow}}, {{connector}}, {{link.NAME}}; "
                "write {{ and }} for literal braces",
            )
        )
    return found


def _bad_id(where: str, what: str, value: str) -> Problem:
    suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_") or "a-name"
    return Problem(
        where,
        f"{what} {value!r} is not a valid id",
        f"ids are lowercase letters, digits, _ and -, starting with a letter or digit "
        f"(they appear in state keys and commands), e.g. {suggestion!r}",
    )
