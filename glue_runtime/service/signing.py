"""Stripe-style signatures: ``t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">``.

The timestamp is signed with the body, so a receiver can refuse an old (replayed) delivery;
several ``v1=`` may be present while a secret is rotated. Outbound events are signed with
:func:`sign`; a receiver checks one with :func:`verify` (constant-time compare).
"""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE_S = 300


def _mac(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str | bytes, header: str, body: bytes, *, now: float, tolerance_s: float = TOLERANCE_S
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures or abs(now - timestamp) > tolerance_s:
        return False
    want = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(want, s) for s in signatures)
