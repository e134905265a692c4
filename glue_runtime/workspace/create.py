"""Making a new workspace (``glue init``): glue.yml from a template with a runnable demo flow,
its sample data, a .gitignore keeping ``.glue/`` out of git, the secret key file and the store.

Everything is checked before anything is written; if a step fails after that (the store's
database is unreachable, say) what this call made is removed again, so a failed init leaves
the folder as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from glue_runtime.errors import StoreError, UsageError
from glue_runtime.workspace.config import CONFIG_NAME, ENV_STORE_URL, load_workspace
from glue_runtime.workspace.crypto import (
    ENV_KEY,
    Keyring,
    create_key_file,
    load_keyring,
    new_key,
)
from glue_runtime.workspace.store import Store

DATA_DIR = ".glue"
DEFAULT_KEY_FILE = f"{DATA_DIR}/secret.key"
_TEMPLATE = "init_template"
_NO_SECRETS_BLOCK = (
    "# secrets:\n"
    "#   key_file: /somewhere/outside/git/secret.key   # default .glue/secret.key;"
    f" {ENV_KEY} wins"
)


@dataclass
class Initialised:
    """What ``init_workspace`` made, for the user."""

    root: Path
    made: list[str] = field(default_factory=list)
    key: str = ""  # where the key lives (a path, or GLUE_SECRET_KEY)
    store: str = ""  # the store's URL without a password
    kept_config: bool = False  # glue.yml was there already (a cloned workspace) and is kept


@dataclass
class _Undo:
    """What to take back if a later step fails (in reverse order)."""

    steps: list[Callable[[], None]] = field(default_factory=list)

    def file(self, path: Path, old: str | None) -> None:
        if old is None:
            self.steps.append(lambda: path.unlink(missing_ok=True))
        else:
            self.steps.append(lambda: _restore(path, old))

    def folder(self, path: Path) -> None:
        self.steps.append(lambda: shutil.rmtree(path, ignore_errors=True))

    def run(self) -> None:
        for step in reversed(self.steps):
            with contextlib.suppress(OSError):  # best effort: the first error is what matters
                step()


def _restore(path: Path, text: str) -> None:
    path.write_text(text)


def _template(name: str) -> str:
    return resources.files("glue_runtime.workspace").joinpath(_TEMPLATE, name).read_text()


def _check(root: Path, *, force: bool, key_file: Path | None, no_key: bool) -> Keyring | None:
    """Refuse what init must not do, before anything is written; the GLUE_SECRET_KEY keyring."""
    for folder in (root, root / DATA_DIR):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} exists and is not a folder; nothing was changed")
    env_key = os.environ.get(ENV_KEY, "").strip()
    if no_key and not env_key:
        raise UsageError(
            f"--no-key means the key comes from {ENV_KEY}, which is not set",
            hint="set it to the output of `glue secrets new-key`, or leave out --no-key",
        )
    if env_key and key_file is not None:
        raise UsageError(
            f"{ENV_KEY} is set, so no key file is written and --key-file would not be used",
            hint=f"unset {ENV_KEY} to make the key file at {key_file}",
        )
    return load_keyring(None) if env_key else None  # a bad key fails here


def _has_config(root: Path) -> bool:
    config = root / CONFIG_NAME
    return config.is_file() and bool(config.read_text().strip())


def _key_setting(root: Path, key_path: Path | None) -> str:
    if key_path is None:
        return _NO_SECRETS_BLOCK
    try:
        shown = str(key_path.relative_to(root))
    except ValueError:
        shown = str(key_path)
    return f"secrets:\n  key_file: {json.dumps(shown)}   # keep it out of git; {ENV_KEY} wins"


def _write_config(root: Path, key_path: Path | None, undo: _Undo) -> None:
    config = root / CONFIG_NAME
    old = config.read_text() if config.is_file() else None
    text = _template(CONFIG_NAME).replace("__NAME__", json.dumps(root.name))
    undo.file(config, old)
    config.write_text(text.replace("__SECRETS__", _key_setting(root, key_path)))


def _write_gitignore(root: Path, ignored: list[str], undo: _Undo) -> None:
    path = root / ".gitignore"
    old = path.read_text() if path.is_file() else None
    have = set((old or "").split())
    missing = [entry for entry in ignored if entry not in have]
    if missing:
        undo.file(path, old)
        sep = "" if not old or old.endswith("\n") else "\n"
        path.write_text((old or "") + sep + "".join(f"{e}\n" for e in missing))


def _copy_sample_data(root: Path, undo: _Undo) -> bool:
    target = root / "data"
    if target.exists():
        return False
    undo.folder(target)
    target.mkdir()
    source = resources.files("glue_runtime.workspace").joinpath(_TEMPLATE, "data")
    for item in source.iterdir():
        if item.name.endswith(".csv"):
            (target / item.name).write_bytes(item.read_bytes())
    return True


def _key(root: Path, key_path: Path, undo: _Undo, made: list[str]) -> None:
    """Make the key file, or keep the one there (it is never overwritten)."""
    if key_path.exists():
        load_keyring(key_path, {})  # a key file that holds no key fails here
        made.append(f"kept the existing key file {key_path}")
        return
    create_key_file(key_path, new_key())
    undo.file(key_path, None)
    made.append(f"{key_path} (mode 0600: back it up; the store's secrets need it)")


def init_workspace(
    root: Path,
    *,
    force: bool = False,
    key_file: Path | None = None,
    no_key: bool = False,
) -> Initialised:
    """Make the workspace at ``root`` (see the module's docstring)."""
    root = root.resolve()
    env_keyring = _check(root, force=force, key_file=key_file, no_key=no_key)
    # A glue.yml already there (a workspace cloned from git) is kept: init makes what the
    # clone lacks (.glue/, the key, the store) where that glue.yml says.
    keep = _has_config(root) and not force
    if keep and key_file is None:
        key_file = load_workspace(root).key_file
    key_path = None if env_keyring else (key_file or root / DEFAULT_KEY_FILE).resolve()
    done = Initialised(root, kept_config=keep)
    undo = _Undo()
    try:
        if not root.exists():
            undo.folder(root)
            root.mkdir(parents=True)
        data_dir = root / DATA_DIR
        if not data_dir.exists():
            undo.folder(data_dir)
            data_dir.mkdir(mode=0o700)
        if keep:
            done.made.append(f"kept {root / CONFIG_NAME} as it is")
        else:
            _write_config(root, key_path if key_file else None, undo)
            done.made.append(f"{root / CONFIG_NAME} (a demo flow to start from)")
        ignored = [f"{DATA_DIR}/", *_ignored_key(root, key_path)]
        _write_gitignore(root, ignored, undo)
        done.made.append(f"{root / '.gitignore'} (keeps {', '.join(ignored)} out of git)")
        if not keep and _copy_sample_data(root, undo):
            done.made.append(f"{root / 'data'} (the demo's sample CSV files)")
        if key_path is not None:
            _key(root, key_path, undo, done.made)
        done.key = str(key_path) if key_path else ENV_KEY
        done.store = _create_store(root)
    except OSError as exc:  # a folder that cannot be written, a full disk
        undo.run()
        raise UsageError(
            f"cannot make the workspace in {root}: {exc.strerror or exc}; nothing was changed",
            hint="check that the folder is writable and the disk has room",
        ) from None
    except BaseException:
        undo.run()
        raise
    done.made.append(f"the store at {done.store}")
    if os.environ.get(ENV_STORE_URL):
        done.made.append(
            f"(the store's URL came from {ENV_STORE_URL}: keep it set for every command, "
            "or put it in glue.yml as store.url)"
        )
    return done


def _ignored_key(root: Path, key_path: Path | None) -> list[str]:
    """A key file inside the workspace but outside .glue/ is git-ignored by name too."""
    if key_path is None:
        return []
    try:
        inside = key_path.relative_to(root).as_posix()
    except ValueError:
        return []
    return [] if inside.startswith(f"{DATA_DIR}/") else [inside]


def _create_store(root: Path) -> str:
    """Create the store where every command will look for it (GLUE_STORE_URL, glue.yml)."""
    workspace = load_workspace(root)
    store = Store(workspace.store_url, load_keyring(workspace.key_file))
    try:
        store.create()
        return store.where()
    except sa.exc.SQLAlchemyError as exc:  # unreachable, refused: say where, not the password
        raise StoreError(
            f"cannot create the store at {store.where()}: {getattr(exc, 'orig', None) or exc}",
            hint="check GLUE_STORE_URL (or glue.yml's store.url) and that the database is up",
        ) from None
    finally:
        store.close()
