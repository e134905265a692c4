"""Talking to a provider's token and revocation endpoints, with Authlib, retries and no leaks.

One place turns an :class:`~glue_runtime.workspace.model.OAuthApp` into an Authlib
``OAuth2Session`` and makes token requests with it: 429, 5xx and connection errors are retried
with backoff honouring ``Retry-After`` (the sleep is injectable, so tests do not wait); an
OAuth error answer (``invalid_grant``...) is :class:`TokenRejected` carrying only the error
code; a token URL that stays down is :class:`TokenEndpointDown` naming the URL. No token,
code, verifier or client secret is ever put in a message.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from glue_runtime.errors import CredentialError
from glue_runtime.workspace.model import OAuthApp

log = logging.getLogger("glue_runtime.workspace.oauth")

#: the keys of an OAuth link's secrets (what the store keeps, encrypted)
TOKEN_KEYS = ("access_token", "refresh_token", "token_type", "scope", "expires_at")


@dataclass(frozen=True)
class RetryPolicy:
    """How token requests are retried: ``tries`` in all, waiting ``base_s * 2**n`` (or the
    answer's Retry-After, at most ``max_wait_s``) between them."""

    tries: int = 4
    base_s: float = 0.5
    max_wait_s: float = 30.0
    timeout_s: float = 30.0  # per request
    sleep: Callable[[float], None] = time.sleep


def safe_error(error: object) -> str:
    """A provider's error code as shown: an RFC 6749 style code, anything else hidden (a
    provider may echo what it was sent)."""
    text = str(error or "")
    return text if text.replace("_", "").isalnum() and len(text) <= 64 else "an error"


class TokenRejected(CredentialError):
    """The provider answered with an OAuth error (``invalid_grant``, ``invalid_client``...)."""

    def __init__(self, error: str, url: str) -> None:
        super().__init__(f"the token URL {url} refused the request: {error}")
        self.error = error


class TokenEndpointDown(CredentialError):
    """The token URL kept answering 429/5xx or could not be reached, after the retries."""


class _Retry(Exception):
    """A retryable answer; ``wait`` is the Retry-After in seconds, when the answer gave one."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _check_status(resp: requests.Response) -> requests.Response:
    """Authlib compliance hook: 429 and 5xx are retried, not parsed as a token."""
    if resp.status_code == 429 or resp.status_code >= 500:
        raise _Retry(f"HTTP {resp.status_code}", retry_after(resp.headers.get("Retry-After")))
    return resp


def session(app: OAuthApp, *, redirect_uri: str | None = None) -> OAuth2Session:
    """An Authlib session for the app (PKCE S256 unless the app turns it off)."""
    s = OAuth2Session(
        client_id=app.client_id,
        client_secret=app.client_secret,
        scope=app.scope or None,
        redirect_uri=redirect_uri or app.redirect_uri,
        token_endpoint_auth_method=app.token_auth,
        revocation_endpoint_auth_method=app.token_auth,
        code_challenge_method="S256" if app.pkce else None,
    )
    s.register_compliance_hook("access_token_response", _check_status)
    s.register_compliance_hook("refresh_token_response", _check_status)
    return s


def token_request(
    app: OAuthApp,
    call: Callable[[OAuth2Session], Mapping[str, Any]],
    *,
    policy: RetryPolicy,
    redirect_uri: str | None = None,
    between: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run ``call`` (one token request on a fresh session) with retries; the token body.

    ``between`` runs before and after each wait (the refresher renews its lease there, and
    stops when it lost it)."""
    last = ""
    for attempt in range(policy.tries):
        try:
            with session(app, redirect_uri=redirect_uri) as s:
                return dict(call(s))
        except _Retry as exc:
            last, wait = exc.reason, exc.wait
        except requests.RequestException as exc:
            last, wait = type(exc).__name__, None
        except OAuthError as exc:
            raise TokenRejected(safe_error(exc.error), app.token_url) from None
        except ValueError:  # not JSON: a broken answer, not a verdict on the grant
            last, wait = "an answer that is not a token", None
        if attempt + 1 < policy.tries:
            pause = min(policy.max_wait_s, wait if wait is not None else policy.base_s * 2**attempt)
            log.warning(
                "token URL %s: %s; retrying in %.1f s (%d/%d)",
                app.token_url,
                last,
                pause,
                attempt + 1,
                policy.tries - 1,
            )
            if between is not None:
                between()
            policy.sleep(pause)
            if between is not None:
                between()
    raise TokenEndpointDown(
        f"the token URL {app.token_url} did not answer after {policy.tries} tries (last: {last})",
        hint="check the provider's status and the connector's oauth.token_url in glue.yml",
    )


def token_secrets(
    body: Mapping[str, Any], now: float, old: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], float | None]:
    """A link's secrets from a token answer (keeping the old refresh token when the provider
    does not rotate it) and the access token's expiry."""
    expires_in = body.get("expires_in")
    expires_at = now + float(expires_in) if expires_in is not None else None
    secrets = {
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token") or (old or {}).get("refresh_token"),
        "token_type": body.get("token_type") or "Bearer",
        "scope": body.get("scope") or (old or {}).get("scope") or "",
        "expires_at": expires_at,
    }
    return {k: v for k, v in secrets.items() if v is not None}, expires_at


def revoke(app: OAuthApp, secrets: Mapping[str, Any], *, timeout_s: float = 30.0) -> bool:
    """RFC 7009 revocation of the refresh token, then the access token. False when the app
    names no revoke_url or the provider refused; errors are logged without the tokens."""
    if not app.revoke_url:
        return False
    done = True
    with session(app) as s:
        for hint in ("refresh_token", "access_token"):
            token = secrets.get(hint)
            if not token:
                continue
            try:
                resp = s.revoke_token(
                    app.revoke_url, token=token, token_type_hint=hint, timeout=timeout_s
                )
            except requests.RequestException as exc:
                log.warning(
                    "revoking the %s at %s failed: %s", hint, app.revoke_url, type(exc).__name__
                )
                done = False
                continue
            if resp.status_code != 200:
                log.warning(
                    "revoking the %s at %s: HTTP %s", hint, app.revoke_url, resp.status_code
                )
                done = False
    return done
