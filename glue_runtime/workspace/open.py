"""Opening a workspace: glue.yml, its keyring and its store, as every command and API needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.crypto import Keyring, load_keyring
from glue_runtime.workspace.model import Workspace
from glue_runtime.workspace.store import Store


@dataclass
class Opened:
    """A workspace with its store open (close it when done, or use it as a context manager)."""

    workspace: Workspace
    store: Store
    keyring: Keyring | None

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_workspace(root: Path | None = None, *, check: bool = True) -> Opened:
    """The workspace at ``root`` (else GLUE_WORKSPACE, else the nearest glue.yml upwards) with
    its store open; ``check`` refuses a store whose schema is missing or newer than the code."""
    workspace = load_workspace(root)
    keyring = load_keyring(workspace.key_file)
    store = Store(workspace.store_url, keyring)
    if check:
        store.check_schema()
    return Opened(workspace, store, keyring)
