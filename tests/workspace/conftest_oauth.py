"""Fixtures of the OAuth tests: a real provider on 127.0.0.1 and a workspace whose flow links
to it (tenants acme and globex). Imported by test_oauth*.py and test_tokens*.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from glue_runtime.testing.oauth_provider import CLIENT_ID, CLIENT_SECRET, OAuthProvider
from glue_runtime.workspace.crypto import new_key
from glue_runtime.workspace.oauthclient import RetryPolicy
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.store import Store

FLOW = "crm"
SOURCE = "contacts"  # authorization code
MACHINE = "billing"  # client credentials
KEYED = "tickets"  # api key
SECRET_ENV = "GLUE_TEST_OAUTH_CLIENT_SECRET"
WORKER = Path(__file__).with_name("oauth_refresh_worker.py")


class Sleeps(list[float]):
    """A sleep that records instead of waiting (retry tests check the waits)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def quick(sleeps: Callable[[float], None] | None = None, **refresh: Any) -> Any:
    """A RefreshPolicy with short waits (and recorded retry sleeps)."""
    from glue_runtime.workspace.tokens import RefreshPolicy

    retry = RetryPolicy(
        tries=3, base_s=0.01, timeout_s=5.0, sleep=sleeps if sleeps is not None else Sleeps()
    )
    return RefreshPolicy(retry=retry, **{"poll_s": 0.02, **refresh})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def redirect_uri() -> str:
    return f"http://127.0.0.1:{free_port()}/callback"


@pytest.fixture
def provider(redirect_uri: str) -> Iterator[OAuthProvider]:
    with OAuthProvider(redirect_uris=(redirect_uri,), access_ttl_s=3600) as p:
        yield p


def glue_yml(
    provider_url: str, redirect_uri: str, *, pkce: bool = True, secret_in_store: bool = False
) -> dict[str, Any]:
    app = {
        "authorize_url": f"{provider_url}/authorize",
        "token_url": f"{provider_url}/token",
        "revoke_url": f"{provider_url}/revoke",
        "client_id": CLIENT_ID,
        "client_secret": "${" + SECRET_ENV + "}",
        "scope": "contacts.read",
        "redirect_uri": redirect_uri,
        "pkce": pkce,
    }
    if secret_in_store:
        del app["client_secret"]
    rest = {
        "base_url": provider_url,
        "auth": {
            "type": "api_key",
            "header": "Authorization",
            "value": "Bearer {link.access_token}",
        },
        "streams": [
            {
                "name": "contacts",
                "path": "/api/contacts",
                "records_path": "$.data[*]",
                "primary_keys": ["id"],
                "pagination": {"style": "page", "has_more_path": "$.has_more"},
            }
        ],
    }
    return {
        "flows": {
            FLOW: {
                "sources": {
                    SOURCE: {"connector": "rest", "auth": "oauth2", "config": rest, "oauth": app},
                    MACHINE: {
                        "connector": "rest",
                        "auth": "oauth2",
                        "config": rest,
                        "oauth": {
                            "token_url": f"{provider_url}/token",
                            "client_id": CLIENT_ID,
                            "client_secret": "${" + SECRET_ENV + "}",
                            "scope": "billing.read",
                            "grant": "client_credentials",
                            "token_auth": "client_secret_basic",
                        },
                    },
                    KEYED: {"connector": "rest", "auth": "api_key", "settings": ["api_key"]},
                }
            }
        }
    }


def make_workspace(
    root: Path, provider_url: str, redirect_uri: str, store_url: str | None = None, **kw: Any
) -> Path:
    """A workspace in ``root`` (its store at ``store_url``, else SQLite inside it; set
    GLUE_STORE_URL to the same URL for it to be found) with tenants acme and globex."""
    (root / ".glue").mkdir(parents=True, exist_ok=True)
    key = root / ".glue" / "secret.key"
    key.write_text(new_key() + "\n")
    key.chmod(0o600)
    (root / "glue.yml").write_text(yaml.safe_dump(glue_yml(provider_url, redirect_uri, **kw)))
    store = Store(store_url or f"sqlite:///{root / '.glue' / 'store.db'}")
    store.create()
    store.add_tenant("acme")
    store.add_tenant("globex")
    store.close()
    return root


@pytest.fixture
def ws_root(
    tmp_path: Path, provider: OAuthProvider, redirect_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    monkeypatch.delenv("GLUE_SECRET_KEY", raising=False)
    monkeypatch.delenv("GLUE_STORE_URL", raising=False)
    return make_workspace(tmp_path / "ws", provider.url, redirect_uri)


@pytest.fixture
def opened(ws_root: Path) -> Iterator[Opened]:
    with open_workspace(ws_root) as o:
        yield o


@pytest.fixture
def any_ws_root(
    tmp_path: Path,
    provider: OAuthProvider,
    redirect_uri: str,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The workspace with its store on SQLite, then on PostgreSQL (the store fixtures'
    ``store_url``); worker processes find it through GLUE_STORE_URL."""
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    monkeypatch.delenv("GLUE_SECRET_KEY", raising=False)
    monkeypatch.setenv("GLUE_STORE_URL", store_url)
    return make_workspace(tmp_path / "ws", provider.url, redirect_uri, store_url)


@pytest.fixture
def any_opened(any_ws_root: Path) -> Iterator[Opened]:
    with open_workspace(any_ws_root) as o:
        yield o


def approve(url: str, **params: str) -> dict[str, str]:
    """What the tenant's browser does at the authorize URL: the callback's query parameters."""
    resp = requests.get(url, params=params or None, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    return {k: v[-1] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


def redirect_location(url: str) -> str:
    resp = requests.get(url, allow_redirects=False, timeout=10)
    return str(resp.headers["Location"])


def start_worker(root: Path, *args: str) -> subprocess.Popen[str]:
    """A separate Python process calling fresh_credentials (see oauth_refresh_worker.py)."""
    env = {**os.environ}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(root), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
