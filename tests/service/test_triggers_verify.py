"""The webhook verifiers against the providers' published vectors (GitHub's), the cross
vectors of docs/shared reference section 5 (secret "It's a Secret to Everybody", body
"Hello, World!"), and every way a delivery must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from glue_runtime.service import signing
from glue_runtime.service.signing import SignatureError
from glue_runtime.service.triggers.verify import Delivery, hubspot_uri, verify

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
T = 1700000000
URL = "https://example.com/webhook"

STRIPE_V1 = "76c83fd0acdf22faed320674fe8e04d528cfe8a17905e720a9611e40677c03b7"
GITHUB = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
SLACK = "v0=ea77f8f5e5fa3d18e87d85ad3d0671d4155ce53da0d046159b838274dc6943c9"
SHOPIFY = "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="
HUBSPOT = "TzjHgf10f6dRoyj6khNGkYOgKRYuNXsZEyiimg8bDr0="


def _d(headers: dict[str, str], body: bytes = BODY, url: str = URL) -> Delivery:
    return Delivery(body, {k.lower(): v for k, v in headers.items()}, "POST", url)


# A valid delivery of each scheme for the vectors above, at time T.
VALID = {
    "stripe": {"Stripe-Signature": f"t={T},v1={STRIPE_V1}"},
    "github": {"X-Hub-Signature-256": GITHUB},
    "shopify": {"X-Shopify-Hmac-Sha256": SHOPIFY},
    "slack": {"X-Slack-Signature": SLACK, "X-Slack-Request-Timestamp": str(T)},
    "hubspot": {"X-HubSpot-Signature-v3": HUBSPOT, "X-HubSpot-Request-Timestamp": f"{T}000"},
    "glue": {"Glue-Signature": f"t={T},v1={STRIPE_V1}"},  # the same scheme as Stripe's
}
TIMESTAMPED = ("stripe", "slack", "hubspot", "glue")


@pytest.mark.parametrize("scheme", sorted(VALID))
def test_each_scheme_accepts_its_documented_vector(scheme: str) -> None:
    got = verify(scheme, [SECRET], _d(VALID[scheme]), T + 1)
    assert got.timestamp == (float(T) if scheme in TIMESTAMPED else None)


def test_the_vectors_are_what_the_providers_document() -> None:
    """GitHub's published vector, recomputed independently of the code under test."""
    mac = hmac.new(SECRET.encode(), BODY, hashlib.sha256)
    assert "sha256=" + mac.hexdigest() == GITHUB
    assert base64.b64encode(mac.digest()).decode() == SHOPIFY


@pytest.mark.parametrize("scheme", sorted(VALID))
def test_a_wrong_secret_is_refused(scheme: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify(scheme, ["not the secret"], _d(VALID[scheme]), T)
    assert err.value.code == "mismatch"
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("scheme", sorted(VALID))
def test_a_tampered_body_is_refused(scheme: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify(scheme, [SECRET], _d(VALID[scheme], body=b"Hello, World?"), T)
    assert err.value.code == "mismatch"


@pytest.mark.parametrize("scheme", sorted(VALID))
def test_a_missing_header_is_refused(scheme: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify(scheme, [SECRET], _d({}), T)
    assert err.value.code == "missing"


@pytest.mark.parametrize("scheme", sorted(VALID))
def test_no_secret_set_verifies_nothing(scheme: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify(scheme, [], _d(VALID[scheme]), T)
    assert err.value.code == "no_secret"


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_outside_300_s_past_or_future_is_refused(scheme: str, offset: int) -> None:
    with pytest.raises(SignatureError) as err:
        verify(scheme, [SECRET], _d(VALID[scheme]), T - offset)
    assert err.value.code == "stale"


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-300, 300])
def test_the_window_edges_are_accepted(scheme: str, offset: int) -> None:
    assert verify(scheme, [SECRET], _d(VALID[scheme]), T - offset).timestamp == T


@pytest.mark.parametrize(
    ("scheme", "headers"),
    [
        ("stripe", {"Stripe-Signature": f"v1={STRIPE_V1}"}),
        ("stripe", {"Stripe-Signature": f"t=soon,v1={STRIPE_V1}"}),
        ("stripe", {"Stripe-Signature": f"t={T},v0={STRIPE_V1}"}),
        ("glue", {"Glue-Signature": "garbage"}),
        ("github", {"X-Hub-Signature-256": GITHUB.replace("sha256=", "sha1=")}),
        ("github", {"X-Hub-Signature-256": GITHUB.replace("sha256=", "")}),
        ("shopify", {"X-Shopify-Hmac-Sha256": "not base64!"}),
        ("slack", {"X-Slack-Signature": SLACK, "X-Slack-Request-Timestamp": "yesterday"}),
        (
            "slack",
            {"X-Slack-Signature": SLACK.replace("v0=", "v1="), "X-Slack-Request-Timestamp": str(T)},
        ),
        ("hubspot", {"X-HubSpot-Signature-v3": HUBSPOT, "X-HubSpot-Request-Timestamp": "now"}),
        ("hubspot", {"X-HubSpot-Signature-v3": "%%%", "X-HubSpot-Request-Timestamp": f"{T}000"}),
    ],
)
def test_a_malformed_header_is_refused(scheme: str, headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as err:
        verify(scheme, [SECRET], _d(headers), T)
    assert err.value.code == "malformed"


def test_slack_needs_its_timestamp_header() -> None:
    with pytest.raises(SignatureError) as err:
        verify("slack", [SECRET], _d({"X-Slack-Signature": SLACK}), T)
    assert (err.value.code, str(err.value)) == ("missing", "no X-Slack-Request-Timestamp header")


def test_stripe_accepts_any_v1_while_a_secret_rotates() -> None:
    """Stripe signs with the old and the new secret; the server may hold either or both."""
    header = signing.sign(["whsec_old", "whsec_new"], BODY, T)
    assert header.count("v1=") == 2
    for held in (["whsec_old"], ["whsec_new"], ["whsec_new", "whsec_old"]):
        assert verify("stripe", held, _d({"Stripe-Signature": header}), T).timestamp == T
    with pytest.raises(SignatureError):
        verify("stripe", ["whsec_other"], _d({"Stripe-Signature": header}), T)


@pytest.mark.parametrize("scheme", ["github", "shopify", "slack", "hubspot"])
def test_two_secrets_held_during_rotation_both_verify(scheme: str) -> None:
    assert verify(scheme, ["the new one", SECRET], _d(VALID[scheme]), T)


def test_hubspot_signs_the_method_and_the_public_url() -> None:
    headers = VALID["hubspot"]
    for url in ("https://example.com/other", "http://example.com/webhook"):
        with pytest.raises(SignatureError):
            verify("hubspot", [SECRET], _d(headers, url=url), T)
    get = Delivery(BODY, {k.lower(): v for k, v in headers.items()}, "GET", URL)
    with pytest.raises(SignatureError):
        verify("hubspot", [SECRET], get, T)


def test_hubspot_decodes_the_uri_escapes_it_documents() -> None:
    assert hubspot_uri("https://x.test/a%3Ab%2Fc?d=%40e%21") == "https://x.test/a:b/c?d=@e!"
    assert hubspot_uri("https://x.test/keep%20space") == "https://x.test/keep%20space"


def test_glue_signing_round_trips_and_names_no_secret() -> None:
    header = signing.sign("s3cr3t-value", b'{"id": "evt_1"}', T)
    assert signing.check(["s3cr3t-value"], b'{"id": "evt_1"}', header, T + 10) == T
    with pytest.raises(SignatureError) as err:
        signing.check(["other"], b'{"id": "evt_1"}', header, T)
    assert "s3cr3t-value" not in str(err.value)
    with pytest.raises(ValueError):
        signing.sign([], BODY, T)


def test_verify_answers_yes_or_no_for_callers_that_need_no_reason() -> None:
    header = signing.sign(SECRET, BODY, T)
    assert header == f"t={T},v1={STRIPE_V1}"
    assert signing.verify(SECRET, header, BODY, now=T)
    assert signing.verify(["old", SECRET], header, BODY, now=T + 300)
    assert not signing.verify(SECRET, header, BODY, now=T + 301)
    assert not signing.verify(SECRET, header, BODY + b" ", now=T)
    assert not signing.verify("other", header, BODY, now=T)
    assert not signing.verify(SECRET, "t=x", BODY, now=T)
