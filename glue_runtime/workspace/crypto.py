"""Secrets at rest: AES-256-GCM, bound to the row they belong to, tagged with their key's id.

Every secret the store keeps (a link's credentials, an OAuth ``state``'s PKCE verifier, an app's
client secret) is encrypted here before it is written. The row's identity (for example
``link:<id>:credentials``) is the associated data, so a value copied into another row does not
decrypt. Each value starts with the id of the key that encrypted it, so keys can rotate: the
first key of a :class:`Keyring` encrypts, every key of it decrypts.

The keys come from ``GLUE_SECRET_KEY`` (base64 of 32 bytes; several separated by commas, the
current one first) or the workspace's key file (one key a line, the current one first), which
``glue init`` creates with mode 0600. With no key there is no keyring: the store refuses to keep
or read secrets instead of falling back to plain text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from glue_runtime.errors import SecretKeyError

log = logging.getLogger("glue_runtime.workspace")

ENV_KEY = "GLUE_SECRET_KEY"
_PREFIX = "g1"  # the envelope's format: g1:<key id>:<base64(nonce | ciphertext | tag)>
_NONCE_BYTES = 12


def new_key() -> str:
    """A new random 256-bit key, base64 (what a key file line and GLUE_SECRET_KEY hold)."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def key_id(key: bytes) -> str:
    """A short id that names a key without revealing it (in each value and in errors)."""
    return hashlib.sha256(b"glue-key-id:" + key).hexdigest()[:12]


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise SecretKeyError(
            f"{where} does not hold a 256-bit key (base64 of 32 bytes)",
            hint="make one with `glue secrets new-key`",
        )
    return raw


class Keyring:
    """The keys that encrypt (the first) and decrypt (all) the workspace's secrets."""

    def __init__(self, keys: Sequence[bytes], source: str = "") -> None:
        if not keys:
            raise SecretKeyError("no secret key: the workspace cannot store or read secrets")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.current_id = key_id(keys[0])
        self.source = source  # where the keys came from, for messages

    @classmethod
    def from_texts(cls, texts: Sequence[str], source: str) -> Keyring:
        return cls([_decode_key(t, source) for t in texts if t.strip()], source)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: bytes, row: str) -> str:
        """Encrypt ``plaintext`` for the row named ``row`` (its associated data)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current_id].encrypt(nonce, plaintext, row.encode())
        return f"{_PREFIX}:{self.current_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, envelope: str, row: str) -> bytes:
        """Decrypt a value of row ``row``; SecretKeyError names the key id when it is not here,
        and says so when the value belongs to another row or was changed."""
        try:
            prefix, kid, body = envelope.split(":", 2)
            blob = base64.b64decode(body, validate=True)
        except (ValueError, binascii.Error):
            raise SecretKeyError(f"the secret of {row} is not an encrypted value") from None
        if prefix != _PREFIX:
            raise SecretKeyError(f"the secret of {row} has an unknown format {prefix!r}")
        aead = self._keys.get(kid)
        if aead is None:
            raise SecretKeyError(
                f"the secret of {row} was encrypted with key {kid}, which "
                f"{self.source or 'the keyring'} does not hold (it holds {', '.join(self._keys)})",
                hint=f"set {ENV_KEY} (or the key file) to the key the workspace was created with",
            )
        try:
            return aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], row.encode())
        except InvalidTag:
            raise SecretKeyError(
                f"the secret of {row} does not decrypt with key {kid}: it was changed, or copied "
                "from another row"
            ) from None

    def needs_rotation(self, envelope: str) -> bool:
        """True for a value not encrypted with the current key."""
        return not envelope.startswith(f"{_PREFIX}:{self.current_id}:")

    def reencrypt(self, envelope: str, row: str) -> str:
        """The value of ``row`` encrypted again with the current key (rotation)."""
        return self.encrypt(self.decrypt(envelope, row), row)


def envelope_key_id(envelope: str) -> str:
    """The id of the key a value was encrypted with (read from the value, not decrypted)."""
    prefix, _, rest = envelope.partition(":")
    return rest.partition(":")[0] if prefix == _PREFIX else ""


def current_key_prefix(keyring: Keyring) -> str:
    """What every value the current key encrypted starts with (to find the others in SQL)."""
    return f"{_PREFIX}:{keyring.current_id}:"


def create_key_file(path: Path, key: str) -> None:
    """Write a new key file holding ``key``, mode 0600 from the first byte.

    ``O_CREAT | O_EXCL`` with mode 0o600: the file never exists with wider permissions, and
    an existing key file is never overwritten (secrets encrypted with it would be lost).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretKeyError(
            f"the key file {path} already exists; it is never overwritten",
            hint="keep it (the store's secrets need it), or rotate with `glue secrets rotate-key`",
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")


def read_key_file(path: Path) -> list[str]:
    """The keys of a key file, current first (blank lines skipped)."""
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise SecretKeyError(
            f"the key file {path} does not exist",
            hint=f"set {ENV_KEY}, or restore the key file the workspace was created with",
        ) from None


def replace_key_file(path: Path, keys: Sequence[str]) -> None:
    """Write ``keys`` (current first) to the key file at once: a new file, mode 0600, renamed
    over the old one, so a crash leaves either the old file or the new one, never half. A key
    file that is a symbolic link has the file it points to replaced, the link kept."""
    for text in keys:
        _decode_key(text, f"a key for {path}")
    target = path.resolve()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.new")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write("".join(k + "\n" for k in keys))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SecretKeyError(
            f"cannot write the key file {path}: {exc.strerror or exc}; nothing was changed",
            hint="run it as the user that owns the workspace, or check the folder's permissions",
        ) from None


def load_keyring(key_file: Path | None, env: dict[str, str] | None = None) -> Keyring | None:
    """The keyring from ``GLUE_SECRET_KEY``, else from ``key_file``; None when neither is set."""
    environ = os.environ if env is None else env
    text = environ.get(ENV_KEY, "")
    if text.strip():
        return Keyring.from_texts(text.split(","), ENV_KEY)
    if key_file is not None and key_file.exists():
        _warn_if_open(key_file)
        return Keyring.from_texts(key_file.read_text().splitlines(), f"key file {key_file}")
    return None


def _warn_if_open(key_file: Path) -> None:
    """A key file others can read (copied, or made by hand) is worth a warning, not a stop."""
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "the key file %s can be read by other users (mode %s); run `chmod 600 %s`",
            key_file,
            oct(mode),
            key_file,
        )
