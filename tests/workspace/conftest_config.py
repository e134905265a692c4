"""Helpers of the glue.yml / `glue flows` / `glue connectors available` tests (i12-config)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.crypto import load_keyring, new_key
from glue_runtime.workspace.model import Workspace
from glue_runtime.workspace.store import Store


def about_connector(folder: Path, name: str, settings: dict[str, Any]) -> Path:
    """An executable ``name`` in ``folder`` that answers ``--about --format json`` with this
    settings schema (and fails anything else): enough for the registry to describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    about = {"name": name, "version": "0.1", "capabilities": ["catalog"], "settings": settings}
    exe = folder / name
    exe.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"if '--about' in sys.argv:\n    print({json.dumps(json.dumps(about))})\n"
        "    sys.exit(0)\n"
        "sys.exit(2)\n"
    )
    exe.chmod(0o755)
    return exe


def open_test_workspace(
    root: Path, glue_yml: str, monkeypatch: pytest.MonkeyPatch, store_url: str | None = None
) -> tuple[Workspace, Store]:
    """A workspace at ``root`` with this glue.yml, a fresh store (``store_url``, else SQLite
    in the workspace) and a secret key; the environment points the CLI at it."""
    monkeypatch.setenv("GLUE_SECRET_KEY", new_key())
    monkeypatch.setenv("GLUE_WORKSPACE", str(root))
    if store_url:
        monkeypatch.setenv("GLUE_STORE_URL", store_url)
    else:
        monkeypatch.delenv("GLUE_STORE_URL", raising=False)
    (root / "glue.yml").write_text(textwrap.dedent(glue_yml))
    (root / ".glue").mkdir(exist_ok=True)
    workspace = load_workspace(root)
    store = Store(workspace.store_url, load_keyring(workspace.key_file))
    store.create()
    return workspace, store
