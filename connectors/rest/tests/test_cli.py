"""tap-rest as a real subprocess: --about, --discover, sync with --catalog and --state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rest_fake_api import API_KEY

TAP = str(Path(sys.executable).with_name("tap-rest"))
SPEC = {
    "name": "items",
    "path": "/offset/items",
    "records_path": "$.results[*]",
    "primary_keys": ["id"],
    "replication_key": "updated_at",
    "since_param": "since",
    "pagination": {"style": "offset", "limit": 10},
}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TAP, *args], capture_output=True, text=True, timeout=60)


def _write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_about_marks_secrets() -> None:
    run = _run("--about", "--format", "json")
    assert run.returncode == 0, run.stderr
    about = json.loads(run.stdout)
    auth = about["settings"]["properties"]["auth"]["properties"]
    assert {k for k, v in auth.items() if v.get("secret")} == {
        "value",
        "password",
        "client_secret",
        "refresh_token",
    }
    assert "state" in about["capabilities"] and "discover" in about["capabilities"]


def test_discover_then_sync_with_catalog_and_state(api, tmp_path, h) -> None:
    auth = {"type": "api_key", "header": "X-API-Key", "value": API_KEY}
    cfg = _write(tmp_path / "config.json", h.config(api, SPEC, auth=auth))
    disc = _run("--config", cfg, "--discover")
    assert disc.returncode == 0, disc.stderr
    catalog = json.loads(disc.stdout)
    assert "updated_at" in catalog["streams"][0]["schema"]["properties"]
    cat = _write(tmp_path / "catalog.json", catalog)
    state = _write(
        tmp_path / "state.json",
        {
            "bookmarks": {
                "items": {
                    "replication_key": "updated_at",
                    "replication_key_value": "2024-01-01T22:00:00Z",
                }
            }
        },
    )
    api.requests.clear()
    run = _run("--config", cfg, "--catalog", cat, "--state", state)
    assert run.returncode == 0, run.stderr
    messages = [json.loads(line) for line in run.stdout.splitlines()]
    assert [m["record"]["id"] for m in messages if m["type"] == "RECORD"] == [22, 23, 24, 25]
    final = [m for m in messages if m["type"] == "STATE"][-1]["value"]
    assert final["bookmarks"]["items"]["replication_key_value"] == "2024-01-02T01:00:00Z"
    # With --catalog there is no discovery request: only the one short page is fetched.
    assert [r.query for r in api.requests] == [
        {"since": "2024-01-01T22:00:00Z", "offset": "0", "limit": "10"}
    ]
    assert API_KEY not in run.stderr


def test_http_error_exits_non_zero_with_message(api, tmp_path, h) -> None:
    spec = {
        **SPEC,
        "path": "/missing",
        "schema": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}},
        },
    }
    cfg = _write(tmp_path / "config.json", h.config(api, spec))
    run = _run("--config", cfg)
    assert run.returncode != 0
    assert "HTTP 404 Not Found for GET /v1/missing" in run.stderr
    assert "No such endpoint" in run.stderr


def test_bad_spec_exits_non_zero_naming_the_stream(api, tmp_path, h) -> None:
    spec = {**SPEC, "pagination": {"style": "cursor"}}
    run = _run("--config", _write(tmp_path / "config.json", h.config(api, spec)))
    assert run.returncode != 0
    assert "stream 'items'.pagination: style 'cursor' needs cursor_path" in run.stderr
