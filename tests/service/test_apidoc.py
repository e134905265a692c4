"""docs/server.md's API reference is generated from the OpenAPI document: every route the
server has is documented."""

from __future__ import annotations

from pathlib import Path

from glue_runtime.service import apidoc

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _server_docs() -> str:
    parts = [DOCS / "server.md", *sorted((DOCS / "server.d").glob("*.md"))]
    return "\n".join(p.read_text() for p in parts if p.exists())


def test_every_route_of_the_openapi_document_is_documented() -> None:
    missing = apidoc.routes(apidoc.openapi_document()) - apidoc.documented(_server_docs())
    assert not missing, (
        f"undocumented routes: {sorted(missing)}; regenerate the reference with "
        "python -m glue_runtime.service.apidoc --write docs/server.md"
    )


def test_the_reference_lists_parameters_bodies_and_auth(tmp_path: Path) -> None:
    doc = apidoc.openapi_document()
    text = apidoc.reference(doc)
    assert "#### `POST /v1/flows/{flow}/tenants/{tenant}/jobs`" in text
    assert "| `Idempotency-Key` | header | no |" in text
    assert "| `sync_type` | `incremental` or `full` or `reset` |" in text
    assert "Add a tenant (admin). Auth: admin service key." in text
    assert "#### `GET /healthz`" in text and "Auth: none" in text
    assert "Answer (JSON, `JobsOut`):" in text and "| `started_ref` | string |" in text
    assert text.count("`JobOut`:") == 1  # each answer schema's table once
    target = tmp_path / "server.md"
    target.write_text("## Before\n\nkept\n")
    apidoc.write(target, doc)
    apidoc.write(target, doc)  # replaces, does not append twice
    written = target.read_text()
    assert written.startswith("## Before\n\nkept\n")
    assert written.count(apidoc.START) == 1
    assert apidoc.documented(written) == apidoc.routes(doc)
