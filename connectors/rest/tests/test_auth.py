"""API key (header, query), HTTP basic, OAuth2 client credentials and refresh token."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from glue_rest.tap import TapRest
from rest_fake_api import API_KEY, BASIC, CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN

STREAM = {"name": "things", "path": "/auth/{kind}/items", "records_path": "$.data[*]"}
TAP = str(Path(sys.executable).with_name("tap-rest"))


def _stream(kind: str, name: str = "things") -> dict:
    return {**STREAM, "name": name, "path": STREAM["path"].format(kind=kind)}


def test_api_key_in_header(api, run_tap, h) -> None:
    auth = {"type": "api_key", "header": "X-API-Key", "value": API_KEY}
    messages = run_tap(h.config(api, _stream("header"), auth=auth))
    assert len(h.records(messages)) == 25
    assert {r.headers.get("X-API-Key") for r in api.hits("/v1/auth/header/items")} == {API_KEY}


def test_api_key_in_query(api, run_tap, h) -> None:
    auth = {"type": "api_key", "query": "api_key", "value": API_KEY}
    messages = run_tap(h.config(api, _stream("query"), auth=auth))
    assert len(h.records(messages)) == 25
    assert {r.query.get("api_key") for r in api.hits("/v1/auth/query/items")} == {API_KEY}


def test_wrong_api_key_fails_at_once_without_the_key(api, h) -> None:
    auth = {"type": "api_key", "query": "api_key", "value": "wrong-key-000"}
    with pytest.raises(Exception) as err:
        TapRest(config=h.config(api, _stream("query"), auth=auth)).sync_all()
    msg = str(err.value)
    assert "HTTP 401" in msg and "Bad or missing credentials" in msg
    assert "/v1/auth/query/items?api_key=***" in msg
    assert "wrong-key-000" not in msg
    assert len(api.hits("/v1/auth/query/items")) == 1  # 4xx: no retries


def test_basic_auth(api, run_tap, h) -> None:
    auth = {"type": "basic", "username": BASIC[0], "password": BASIC[1]}
    messages = run_tap(h.config(api, _stream("basic"), auth=auth))
    assert len(h.records(messages)) == 25


def _oauth_cc(api, **extra) -> dict:
    return {
        "type": "oauth2_client_credentials",
        "token_url": f"{api.base_url}/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "read:items",
        **extra,
    }


def test_client_credentials_token_is_cached_across_streams(api, run_tap, h) -> None:
    config = h.config(api, _stream("bearer", "a"), _stream("bearer", "b"), auth=_oauth_cc(api))
    messages = run_tap(config)
    assert len(h.records(messages, "a")) == 25 and len(h.records(messages, "b")) == 25
    assert api.tokens_issued == 1
    token_call = api.hits("/oauth/token")[0].body
    assert token_call == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "read:items",
    }


def test_client_credentials_with_basic_client_auth(api, run_tap, h) -> None:
    config = h.config(api, _stream("bearer"), auth=_oauth_cc(api, client_auth="basic"))
    assert len(h.records(run_tap(config))) == 25
    call = api.hits("/oauth/token")[0]
    assert "client_secret" not in call.body and call.headers["Authorization"].startswith("Basic ")


def test_expired_token_is_refreshed(api, run_tap, h) -> None:
    api.token_expires_in = 0  # every token is stale at once: each request needs a new one
    config = h.config(api, _stream("bearer", "a"), _stream("bearer", "b"), auth=_oauth_cc(api))
    messages = run_tap(config)
    assert len(h.records(messages)) == 50
    data_requests = len(api.hits("/v1/auth/bearer/items"))
    assert api.tokens_issued >= data_requests >= 2


def test_revoked_token_gets_one_new_token(api, run_tap, h) -> None:
    config = h.config(api, _stream("bearer", "a"), _stream("bearer", "b"), auth=_oauth_cc(api))
    api.token_expires_in = 3600
    tap = TapRest(config=config)
    _ = tap.streams  # discovery uses token 1
    api.access_tokens.clear()  # the server forgets it
    tap.sync_all()
    assert api.tokens_issued == 2


def test_bad_client_secret_fails_without_secret(api, h) -> None:
    auth = _oauth_cc(api, client_secret="cs-wrong-secret")
    with pytest.raises(Exception) as err:
        TapRest(config=h.config(api, _stream("bearer"), auth=auth)).sync_all()
    msg = str(err.value)
    assert "OAuth2 token request: HTTP 401" in msg and "invalid_client" in msg
    assert "cs-wrong-secret" not in msg
    assert len(api.hits("/oauth/token")) == 1


def _refresh_config(api, path: Path) -> None:
    config = {
        "base_url": f"{api.base_url}/v1",
        "streams": [_stream("bearer", "a"), _stream("bearer", "b")],
        "backoff_factor": 0.01,
        "auth": {
            "type": "oauth2_refresh_token",
            "token_url": f"{api.base_url}/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": FIRST_REFRESH_TOKEN,
        },
        "custom": {"kept": True},
    }
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)


def test_rotated_refresh_token_is_saved_for_the_next_run(api, tmp_path) -> None:
    cfg = tmp_path / "config.json"
    _refresh_config(api, cfg)
    first = subprocess.run([TAP, "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    saved = json.loads(cfg.read_text())
    assert saved["auth"]["refresh_token"] == api.refresh_token != FIRST_REFRESH_TOKEN
    assert saved["custom"] == {"kept": True}  # every other setting survives
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert "saved the new one to" in first.stderr
    for secret in (FIRST_REFRESH_TOKEN, api.refresh_token, CLIENT_SECRET, "at-1-secret"):
        assert secret not in first.stderr
    assert not [p for p in tmp_path.iterdir() if p.name != "config.json"]  # no temp left over
    records = [json.loads(line) for line in first.stdout.splitlines()]
    assert sum(m["type"] == "RECORD" for m in records) == 50
    assert api.tokens_issued == 1  # one token for discovery and both streams

    # The old refresh token is dead on the server; the second run only works with the saved one.
    second = subprocess.run([TAP, "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert json.loads(cfg.read_text())["auth"]["refresh_token"] == api.refresh_token
    assert api.tokens_issued == 2


def test_stale_refresh_token_fails_with_the_servers_reason(api, tmp_path) -> None:
    cfg = tmp_path / "config.json"
    _refresh_config(api, cfg)
    api.refresh_token = "rt-someone-else-rotated-it"
    run = subprocess.run([TAP, "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "invalid_grant" in run.stderr and "HTTP 400" in run.stderr
    assert FIRST_REFRESH_TOKEN not in run.stderr and CLIENT_SECRET not in run.stderr
