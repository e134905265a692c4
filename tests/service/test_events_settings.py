"""glue.yml's ``webhooks:``: its schema refuses what it cannot send to, by key path; the
endpoints parse with their defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue_runtime.errors import ConfigError
from glue_runtime.service.webhooks import DEFAULT_TIMEOUT_S, Endpoint, endpoint, endpoints
from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.outbox import EVENT_TYPES


def _load(root: Path, webhooks: str):
    root.mkdir(exist_ok=True)
    (root / "glue.yml").write_text("name: t\nflows: {}\nwebhooks:\n" + webhooks)
    return load_workspace(root)


def test_endpoints_parse_with_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s" * 24)
    ws = _load(
        tmp_path,
        "  a: {url: 'https://a.example/h'}\n"
        "  b: {url: 'http://b.example/h', events: [job.failed], tenants: [acme], "
        "secret: '${HOOK_SECRET}', timeout: 3s}\n",
    )
    eps = endpoints(ws)
    assert eps["a"] == Endpoint("a", "https://a.example/h", EVENT_TYPES, None, DEFAULT_TIMEOUT_S)
    b = eps["b"]
    assert (b.events, b.tenants, b.timeout_s, b.secret) == (
        ("job.failed",),
        ("acme",),
        3.0,
        "s" * 24,
    )
    assert "s" * 24 not in repr(b)
    assert b.wants("job.failed", "acme") and not b.wants("job.failed", "globex")
    assert not b.wants("job.started", "acme") and not b.wants("job.failed", None)
    with pytest.raises(ConfigError, match="unknown webhook endpoint 'c'"):
        endpoint(ws, "c")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("  a: {url: 'ftp://x'}\n", "webhooks.a.url"),
        ("  a: {url: 'https://x', events: [job.nope]}\n", "webhooks.a.events"),
        ("  a: {url: 'https://x', retries: 3}\n", "retries"),
        ("  a: {events: [job.failed]}\n", "url"),
        ("  a: {url: 'https://x', timeout: soon}\n", "webhooks.a.timeout"),
    ],
)
def test_a_bad_endpoint_is_refused_by_key_path(tmp_path: Path, body: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, body)
    assert says in str(err.value)
