"""The project's own webhook signature, inbound (generic senders) and outbound (events).

``Glue-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">``: Stripe's scheme,
so a receiver can check both the body and its age (a replay outside the window is refused;
inside it, the event id in the body dedupes). While a secret rotates the sender signs with
each of its secrets (several ``v1=``) and a receiver accepts any that matches one of its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "Glue-Signature"
TOLERANCE_S = 300.0
"""How far a signed timestamp may be from the receiver's clock, past or future."""


class SignatureError(Exception):
    """A signature that does not verify; ``code`` says why, the message never holds a secret.

    codes: ``missing`` (no header), ``malformed`` (a header not of the scheme's form),
    ``mismatch`` (no signature matches any secret), ``stale`` (timestamp outside the window).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def hmac_sha256(secret: str | bytes, message: bytes) -> bytes:
    """The raw HMAC-SHA256 digest of ``message`` (every scheme here builds on it)."""
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).digest()


def signature(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The hex ``v1`` of ``body`` signed at ``timestamp``."""
    return hmac_sha256(secret, b"%d." % timestamp + body).hex()


def sign(secrets: str | bytes | Sequence[str | bytes], body: bytes, timestamp: int) -> str:
    """The ``Glue-Signature`` header value: ``t=..,v1=..`` with one ``v1`` per secret."""
    keys = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    if not keys:
        raise ValueError("sign() needs at least one secret")
    return ",".join([f"t={timestamp}", *(f"v1={signature(k, body, timestamp)}" for k in keys)])


def parse_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a ``t=..,v1=..`` header (Stripe's form too);
    other schemes in it (``v0=``) are ignored. SignatureError("malformed") otherwise."""
    timestamp: int | None = None
    v1: list[str] = []
    for part in value.split(","):
        name, sep, text = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(text)
            except ValueError:
                raise SignatureError("malformed", "the signature's t= is not a number") from None
        elif name == "v1" and text:
            v1.append(text.strip().lower())
    if timestamp is None or not v1:
        raise SignatureError("malformed", "the signature header needs t=<unix time> and v1=<hex>")
    return timestamp, v1


def check_window(timestamp: float, now: float, tolerance_s: float) -> None:
    """SignatureError("stale") when ``timestamp`` is more than ``tolerance_s`` from ``now``."""
    if abs(now - timestamp) > tolerance_s:
        side = "old" if timestamp < now else "far in the future"
        raise SignatureError(
            "stale",
            f"the signed timestamp is {side} (more than {tolerance_s:.0f} s from the "
            "server's clock): a replay, or a clock out of sync",
        )


def any_match(expected: Sequence[bytes | str], given: Sequence[bytes | str]) -> bool:
    """Whether any given signature equals any expected one (constant time per comparison;
    every pair is compared, so the time says nothing about which one matched)."""
    found = False
    for e in expected:
        for g in given:
            found |= hmac.compare_digest(_as_bytes(e), _as_bytes(g))
    return found


def check(
    secrets: Sequence[str | bytes],
    body: bytes,
    header: str | None,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> int:
    """The signed timestamp of a ``Glue-Signature`` over ``body``; SignatureError when the
    header is missing or malformed, no ``v1`` matches a secret, or it is outside the window."""
    if not header:
        raise SignatureError("missing", f"no {HEADER} header")
    timestamp, given = parse_header(header)
    expected = [signature(k, body, timestamp) for k in secrets]
    if not any_match(expected, given):
        raise SignatureError("mismatch", f"the {HEADER} does not match the body and secret")
    check_window(timestamp, now, tolerance_s)
    return timestamp


def verify(
    secret: str | bytes | Sequence[str | bytes],
    header: str,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` (or one of several) within
    ``tolerance_s`` of ``now``: the receiver's check, for a caller that needs no reason."""
    keys = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    try:
        check(keys, body, header, now, tolerance_s)
    except SignatureError:
        return False
    return True
