"""The API reference of docs/server.md, written from the app's OpenAPI document, so the
documentation lists exactly the routes the server has.

``python -m glue_runtime.service.apidoc`` prints it; ``--write FILE`` replaces the part of
FILE between the markers. tests/service/test_apidoc.py fails when a route is missing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

START = "<!-- api-reference:start (python -m glue_runtime.service.apidoc --write FILE) -->"
END = "<!-- api-reference:end -->"
METHODS = ("get", "post", "put", "patch", "delete")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the app as built (no workspace needed)."""
    from glue_runtime.service.app import create_app
    from glue_runtime.service.context import ServiceContext

    return create_app(ServiceContext(None)).openapi()  # type: ignore[arg-type]


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return " or ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def _cell(text: Any) -> str:
    return str(text or "").replace("\n", " ").replace("|", "\\|")


def _auth(op: dict[str, Any]) -> str:
    if not op.get("security"):
        return "none"
    return "admin service key" if "(admin)" in op.get("summary", "") else "service key"


def _parameters(op: dict[str, Any]) -> list[str]:
    rows = [
        f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
        f"{_cell(_type(p.get('schema', {})))} | {_cell(p.get('description'))} |"
        for p in op.get("parameters", [])
    ]
    if not rows:
        return []
    return ["| parameter | in | required | type | description |", "|---|---|---|---|---|", *rows]


def _body(op: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    name = _type(content["schema"])
    schema = schemas.get(name, {})
    rows = [
        f"| `{field}` | {_cell(_type(spec))} | {_cell(spec.get('description'))} |"
        for field, spec in schema.get("properties", {}).items()
    ]
    lines = [f"Body (JSON, `{name}`):", ""]
    if rows:
        lines += ["| field | type | description |", "|---|---|---|", *rows]
    return lines


def _route(path: str, method: str, op: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    codes = ", ".join(sorted(op.get("responses", {})))
    lines = [
        f"#### `{method.upper()} {path}`",
        "",
        f"{op.get('summary', '')}. Auth: {_auth(op)}. Answers: {codes}.",
        "",
    ]
    for part in (_parameters(op), _body(op, schemas)):
        if part:
            lines += [*part, ""]
    return lines


def reference(doc: dict[str, Any]) -> str:
    """The reference in markdown: routes grouped by tag, in the document's order."""
    schemas = doc.get("components", {}).get("schemas", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).extend(_route(path, method, op, schemas))
    lines = [START, ""]
    for tag, routes in by_tag.items():
        lines += [f"### {tag.capitalize()}", "", *routes]
    lines.append(END)
    return "\n".join(lines)


def documented(text: str) -> set[tuple[str, str]]:
    """The (METHOD, path) pairs a markdown text documents as ``#### `METHOD /path` ``."""
    return set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", text))


def routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}


def write(path: Path, doc: dict[str, Any]) -> None:
    """Replace the reference between the markers of ``path`` (appended when it has none)."""
    text = path.read_text() if path.exists() else ""
    new = reference(doc)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + new + tail
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="replace the reference in this file")
    args = parser.parse_args(argv)
    doc = openapi_document()
    if args.write:
        write(args.write, doc)
    else:
        print(reference(doc))


if __name__ == "__main__":
    main()
