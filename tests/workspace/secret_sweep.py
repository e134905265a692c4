"""A check every workspace test can end with: no secret appears in what a run printed or left
on disk.

``assert_no_secrets(secrets, texts=[stdout, stderr, ...], folders=[workspace, tmp_path])``
looks for each secret in every text and every file under the folders, as written and in the
forms output commonly takes (JSON-escaped, percent-encoded, base64). It reads SQLite store
files too (their values must be encrypted, so a plaintext secret there is a failure) and skips
only the key file, which holds the key itself. A failure names where each secret appeared, but
never prints the secret: it shows its first two characters and its length.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

KEY_FILE_NAMES = frozenset({"secret.key"})
MIN_LENGTH = 6  # shorter "secrets" would match ordinary text


def _forms(secret: str) -> set[bytes]:
    """The secret as it may be written: as is, JSON-escaped, percent-encoded, base64."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
    }
    return {f.encode() for f in forms}


def _label(secret: str) -> str:
    return f"secret {secret[:2]!r}... ({len(secret)} chars)"


def _found_in(data: bytes, forms: set[bytes]) -> bool:
    return any(f in data for f in forms)


def _files(folders: Iterable[Path], skip: set[Path]) -> Iterable[Path]:
    for folder in folders:
        if folder.is_file():
            candidates: Iterable[Path] = [folder]
        else:
            candidates = (p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
        for path in sorted(candidates):
            if path.name in KEY_FILE_NAMES or path.resolve() in skip:
                continue
            yield path


def find_secrets(
    secrets: Iterable[str],
    *,
    texts: Iterable[str | bytes] = (),
    folders: Iterable[Path] = (),
    skip: Iterable[Path] = (),
) -> list[str]:
    """Where each secret appeared ("text #2: secret 'ab'... (24 chars)"); empty when nowhere."""
    wanted = {s: _forms(s) for s in secrets if s}
    short = [s for s in wanted if len(s) < MIN_LENGTH]
    if short:
        raise ValueError(f"secrets shorter than {MIN_LENGTH} characters would match by chance")
    hits: list[str] = []
    for i, text in enumerate(texts):
        data = text.encode() if isinstance(text, str) else text
        hits += [f"text #{i}: {_label(s)}" for s, forms in wanted.items() if _found_in(data, forms)]
    skipped = {p.resolve() for p in skip}
    for path in _files(folders, skipped):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # a socket or a file removed meanwhile
        hits += [
            f"file {path}: {_label(s)}" for s, forms in wanted.items() if _found_in(data, forms)
        ]
    return hits


def assert_no_secrets(
    secrets: Iterable[str],
    *,
    texts: Iterable[str | bytes] = (),
    folders: Iterable[Path] = (),
    skip: Iterable[Path] = (),
) -> None:
    """Fail naming every output and file a secret appeared in (the key file is skipped, and
    any path in ``skip``; store database files are read: they must hold only ciphertext)."""
    hits = find_secrets(secrets, texts=texts, folders=folders, skip=skip)
    assert not hits, "secrets leaked:\n  " + "\n  ".join(hits)
