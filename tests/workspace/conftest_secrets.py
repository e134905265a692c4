"""Fixtures of the secrets tests: a small workspace with an OAuth connector and a key.

Imported by the secrets test modules (``from tests.workspace.conftest_secrets import ...``);
tests/workspace/conftest.py belongs to the store's tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from glue_runtime.workspace.crypto import ENV_KEY, new_key
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.store import Store

GLUE_YML = """\
name: shopws
flows:
  shop:
    sources:
      crm:
        connector: tap-crm
        auth: oauth2
        oauth:
          authorize_url: http://127.0.0.1:9/authorize
          token_url: http://127.0.0.1:9/token
          client_id: shop-app
          redirect_uri: http://127.0.0.1:8765/callback
          scope: read
      ledger:
        connector: tap-ledger
        auth: oauth2
        oauth:
          token_url: http://127.0.0.1:9/token
          client_id: ledger-app
          client_secret: ${LEDGER_SECRET_FOR_TEST}
          grant: client_credentials
      files:
        connector: tap-files
    targets:
      db:
        connector: target-sqlite
        config: {database: "out/{tenant}.db"}
"""


def write_workspace(root: Path, text: str = GLUE_YML) -> Path:
    """A workspace folder with ``text`` as its glue.yml (nothing else)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "glue.yml").write_text(text)
    return root


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No workspace, store URL or key from the environment of whoever runs the tests."""
    for var in (ENV_KEY, "GLUE_WORKSPACE", "GLUE_STORE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEDGER_SECRET_FOR_TEST", "ledger-secret-from-env-7f3a")
    return monkeypatch


@pytest.fixture
def key_env(clean_env: pytest.MonkeyPatch) -> str:
    """A fresh key in GLUE_SECRET_KEY."""
    key = new_key()
    clean_env.setenv(ENV_KEY, key)
    return key


@pytest.fixture
def workspace_root(tmp_path: Path, key_env: str) -> Path:
    """The workspace of GLUE_YML with its SQLite store created (keyed by GLUE_SECRET_KEY)."""
    root = write_workspace(tmp_path / "ws")
    (root / ".glue").mkdir()
    with open_workspace(root, check=False) as opened:
        Store(opened.workspace.store_url, opened.keyring).create()
    return root


@pytest.fixture
def opened(workspace_root: Path) -> Iterator[Opened]:
    with open_workspace(workspace_root) as ws:
        yield ws
