"""Webhook signature verifiers, one per scheme real providers use (docs/triggers.md).

Each is a pure function of the secrets (two while one rotates), the raw body bytes, the
headers, the method, the public URL and the clock: it returns what the signature vouches for
(:class:`Verified`) or raises :class:`~glue_runtime.service.signing.SignatureError` saying
why, never with a secret in it. Signatures are computed over the raw bytes (never
re-serialised JSON) and compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from glue_runtime.service import signing
from glue_runtime.service.signing import SignatureError, any_match, check_window, hmac_sha256

WINDOW_S = 300.0  # Stripe, Slack, HubSpot v3 (5 minutes) and the project's own


@dataclass(frozen=True)
class Verified:
    """What a verified signature vouches for besides the body: the signed timestamp (unix
    seconds), or None for schemes that sign no time (GitHub, Shopify)."""

    timestamp: float | None = None


@dataclass(frozen=True)
class Delivery:
    """One inbound request as the verifiers see it. ``headers`` with lower-case names;
    ``url`` the public URL the provider called (HubSpot signs it)."""

    body: bytes
    headers: Mapping[str, str]
    method: str = "POST"
    url: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Verifier = Callable[[Sequence[str], Delivery, float], Verified]


def _required(d: Delivery, name: str) -> str:
    value = d.header(name)
    if not value:
        raise SignatureError("missing", f"no {name} header")
    return value.strip()


def _mismatch(name: str) -> SignatureError:
    return SignatureError("mismatch", f"the {name} does not match the body and secret")


def stripe(secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """``Stripe-Signature: t=..,v1=..[,v1=..]``: hex HMAC-SHA256 of ``"{t}.{body}"``; any v1
    may match (Stripe signs with each secret while one rotates); 300 s past or future."""
    timestamp, given = signing.parse_header(_required(d, "Stripe-Signature"))
    expected = [signing.signature(s, d.body, timestamp) for s in secrets]
    if not any_match(expected, given):
        raise _mismatch("Stripe-Signature")
    check_window(timestamp, now, WINDOW_S)
    return Verified(float(timestamp))


def glue(secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """The project's own ``Glue-Signature`` (glue_runtime.service.signing)."""
    return Verified(float(signing.check(secrets, d.body, d.header(signing.HEADER), now, WINDOW_S)))


def github(secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; no timestamp (the
    24 h dedupe on the body is the replay protection)."""
    value = _required(d, "X-Hub-Signature-256")
    prefix, sep, given = value.partition("=")
    if not sep or prefix != "sha256" or not given:
        raise SignatureError("malformed", "X-Hub-Signature-256 must be sha256=<hex>")
    expected = [hmac_sha256(s, d.body).hex() for s in secrets]
    if not any_match(expected, [given.lower()]):
        raise _mismatch("X-Hub-Signature-256")
    return Verified()


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed", f"{name} is not base64") from None


def shopify(secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>``; no timestamp."""
    given = _b64(_required(d, "X-Shopify-Hmac-Sha256"), "X-Shopify-Hmac-Sha256")
    if not any_match([hmac_sha256(s, d.body) for s in secrets], [given]):
        raise _mismatch("X-Shopify-Hmac-Sha256")
    return Verified()


def _int_header(d: Delivery, name: str) -> int:
    text = _required(d, name)
    try:
        return int(text)
    except ValueError:
        raise SignatureError("malformed", f"{name} is not a number") from None


def slack(secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """``X-Slack-Signature: v0=<hex>`` of ``"v0:{X-Slack-Request-Timestamp}:{body}"``, 300 s."""
    value = _required(d, "X-Slack-Signature")
    timestamp = _int_header(d, "X-Slack-Request-Timestamp")
    version, sep, given = value.partition("=")
    if not sep or version != "v0" or not given:
        raise SignatureError("malformed", "X-Slack-Signature must be v0=<hex>")
    message = b"v0:%d:" % timestamp + d.body
    if not any_match([hmac_sha256(s, message).hex() for s in secrets], [given.lower()]):
        raise _mismatch("X-Slack-Signature")
    check_window(timestamp, now, WINDOW_S)
    return Verified(float(timestamp))


# HubSpot v3 signs the URI with these escapes decoded (its request-validation docs).
_HUBSPOT_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hubspot_uri(url: str) -> str:
    """The URI as HubSpot v3 signs it: the public URL with a few escapes decoded."""
    for escape, char in _HUBSPOT_DECODE.items():
        url = url.replace(escape, char).replace(escape.lower(), char)
    return url


def hubspot(secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of method + URI + body + timestamp,
    ``X-HubSpot-Request-Timestamp`` in milliseconds, 5 minutes past or future."""
    given = _b64(_required(d, "X-HubSpot-Signature-v3"), "X-HubSpot-Signature-v3")
    millis = _int_header(d, "X-HubSpot-Request-Timestamp")
    message = (d.method.upper() + hubspot_uri(d.url)).encode() + d.body + str(millis).encode()
    if not any_match([hmac_sha256(s, message) for s in secrets], [given]):
        raise _mismatch("X-HubSpot-Signature-v3")
    check_window(millis / 1000.0, now, WINDOW_S)
    return Verified(millis / 1000.0)


VERIFIERS: dict[str, Verifier] = {
    "stripe": stripe,
    "github": github,
    "shopify": shopify,
    "slack": slack,
    "hubspot": hubspot,
    "glue": glue,
}
SCHEMES = tuple(VERIFIERS)


def verify(scheme: str, secrets: Sequence[str], d: Delivery, now: float) -> Verified:
    """Verify ``d`` under ``scheme`` with any of ``secrets``; SignatureError when it fails."""
    if not secrets:
        raise SignatureError("no_secret", "the trigger has no secret set yet")
    return VERIFIERS[scheme](secrets, d, now)
