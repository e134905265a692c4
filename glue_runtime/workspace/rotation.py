"""Key rotation: a new key first in the keyring, every sealed value re-encrypted with it,
then (on request) the old keys dropped once no value needs them.

The new key is saved (key file) or shown (``GLUE_SECRET_KEY``) BEFORE any value is
re-encrypted, so a crash never leaves values under a key that exists nowhere; the old keys
stay in the keyring until ``drop_old``, so values a process wrote meanwhile still decrypt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from glue_runtime.errors import SecretKeyError
from glue_runtime.workspace.crypto import (
    ENV_KEY,
    Keyring,
    new_key,
    read_key_file,
    replace_key_file,
)
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.rekey import key_usage, reencrypt


@dataclass
class Rotation:
    """What a rotation did (key ids only, never keys)."""

    current: str
    previous: list[str]
    reencrypted: dict[str, int]
    dropped: list[str] = field(default_factory=list)
    env_value: str | None = None  # the GLUE_SECRET_KEY to set, when the keys come from it


def _key_texts(opened: Opened) -> tuple[list[str], bool]:
    """The keyring's keys as text, current first, and whether they come from the env."""
    env = os.environ.get(ENV_KEY, "")
    if env.strip():
        return [k.strip() for k in env.split(",") if k.strip()], True
    if opened.workspace.key_file is None or opened.keyring is None:
        raise SecretKeyError(
            "no secret key: there is nothing to rotate",
            hint=f"set {ENV_KEY}, or keep the key file `glue init` made (.glue/secret.key)",
        )
    return read_key_file(opened.workspace.key_file), False


def key_id_of(text: str) -> str:
    """The id of a key given as text (base64)."""
    return Keyring.from_texts([text], "the keyring").current_id


def _save(opened: Opened, texts: list[str], from_env: bool, show: Callable[[str], None]) -> None:
    if from_env:
        show(",".join(texts))
    else:
        assert opened.workspace.key_file is not None
        replace_key_file(opened.workspace.key_file, texts)


def _use(opened: Opened, texts: list[str], source: str) -> Keyring:
    keyring = Keyring.from_texts(texts, source)
    opened.keyring = keyring
    opened.store.keyring = keyring
    return keyring


def rotate_key(
    opened: Opened,
    *,
    generate: bool = True,
    drop_old: bool = False,
    show: Callable[[str], None] = lambda _value: None,
) -> Rotation:
    """Rotate the workspace's key (``generate``: a new one; else re-encrypt with the current
    first key, e.g. one the user put first in GLUE_SECRET_KEY, or to finish an interrupted
    rotation). With the keys in GLUE_SECRET_KEY, ``show`` gets the new value to set, before
    anything is re-encrypted and again after old keys are dropped."""
    texts, from_env = _key_texts(opened)
    source = ENV_KEY if from_env else f"key file {opened.workspace.key_file}"
    previous = [key_id_of(t) for t in texts]
    if generate:
        texts = [new_key(), *texts]
        _save(opened, texts, from_env, show)
    keyring = _use(opened, texts, source)
    done = reencrypt(opened.store, keyring)
    result = Rotation(keyring.current_id, previous, done)
    if drop_old:
        result.dropped = drop_old_keys(opened, texts, from_env, show)
    if from_env:
        result.env_value = ",".join(texts[:1] if drop_old else texts)
    opened.store.record(
        "key-rotated",
        f"current key {result.current}; re-encrypted {sum(done.values())} values"
        + (f"; dropped {', '.join(result.dropped)}" if result.dropped else ""),
    )
    return result


def drop_old_keys(
    opened: Opened, texts: list[str], from_env: bool, show: Callable[[str], None]
) -> list[str]:
    """Keep only the current key; SecretKeyError (nothing changed) while a value needs another."""
    current = key_id_of(texts[0])
    still = {kid: n for kid, n in key_usage(opened.store).items() if kid != current}
    if still:
        uses = ", ".join(f"{n} value(s) under key {kid}" for kid, n in sorted(still.items()))
        raise SecretKeyError(
            f"old keys are still needed: {uses}; no key was dropped",
            hint="run `glue secrets rotate-key --no-new-key` to re-encrypt them, then drop",
        )
    dropped = [key_id_of(t) for t in texts[1:]]
    if dropped:
        _save(opened, texts[:1], from_env, show)
        _use(opened, texts[:1], opened.keyring.source if opened.keyring else "")
    return dropped
