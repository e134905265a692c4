"""Fresh credentials for a link: refresh an OAuth2 access token once, whoever asks for it.

``fresh_credentials`` returns a link's secrets with an access token valid for at least the
margin. When it must refresh, one caller takes the link's lease, re-reads the credentials
(someone may have refreshed meanwhile), calls the token URL outside any transaction, and
commits the new pair with a compare-and-swap on the credential version BEFORE anyone uses
it; the others poll the version until it changes. A rejected refresh (``invalid_grant``)
marks the link "needs re-authorisation" at once and keeps the old tokens; nobody asks the
provider again for that link until it is linked again. A token URL that stays down after the
retries is remembered for a cool-down, so a burst of jobs makes one round of requests.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from glue_runtime.errors import CredentialError, LeaseLost, NeedsReauthorisation, StoreError
from glue_runtime.workspace import linklease, oauthclient
from glue_runtime.workspace.model import OAuthApp
from glue_runtime.workspace.oauth import client_credentials_token, oauth_connector
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import LINK_NEEDS_REAUTH, LINK_OK, Link, Store

REFRESH_FAILED = "token refresh failed"  # how last_error starts for a transient failure
REFRESHED_ACTION = "token.refreshed"  # audit actions, counted by /metrics
REFRESH_FAILED_ACTION = "token.refresh_failed"


@dataclass(frozen=True)
class RefreshPolicy:
    """Timing of refreshes (seconds); tests pass small values."""

    lease_ttl_s: float = 60.0  # a refresher that died frees the link after this
    wait_s: float = 120.0  # how long a caller waits for another process's refresh
    poll_s: float = 0.05  # how often a waiting caller looks at the credential version
    cooldown_s: float = 30.0  # after a failed refresh, no new request for this long
    retry: oauthclient.RetryPolicy = field(default_factory=oauthclient.RetryPolicy)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _names(link: Link) -> str:
    return f"tenant '{link.tenant}', flow '{link.flow}', connector '{link.connector}'"


def _relink(link: Link) -> str:
    return f"link it again: `glue link {link.flow} {link.connector} --tenant {link.tenant}`"


def is_fresh(secrets: Mapping[str, Any], at: float, margin_s: float) -> bool:
    """True when the access token is valid for at least ``margin_s`` more (or never expires)."""
    if not secrets.get("access_token"):
        return False
    expires_at = secrets.get("expires_at")
    return expires_at is None or float(expires_at) - margin_s > at


def _current(store: Store, link: Link) -> Link:
    found = store.find_link(link.flow, link.tenant, link.connector)
    if found is None:
        raise StoreError(f"the link of {_names(link)} is gone (unlinked)", hint=_relink(link))
    return found


def _check_usable(link: Link, cooldown_s: float) -> None:
    """Refuse a link that needs re-authorisation, or whose last refresh failed just now."""
    if link.status == LINK_NEEDS_REAUTH:
        raise NeedsReauthorisation(
            link.last_error or f"the link of {_names(link)} needs re-authorisation",
            hint=_relink(link),
        )
    if link.last_error and link.last_error.startswith(REFRESH_FAILED):
        left = link.updated_at + cooldown_s - time.time()
        if left > 0:
            raise CredentialError(
                f"{link.last_error} (no new request for {left:.0f} s)",
                hint="wait for the provider to recover; the next job tries again",
            )


def fresh_credentials(
    opened: Opened,
    link: Link,
    *,
    margin_s: float | None = None,
    now: Callable[[], float] = time.time,
    policy: RefreshPolicy | None = None,
) -> dict[str, Any]:
    """The link's secrets, with an access token valid for at least ``margin_s`` (default
    ``settings.refresh_margin_s``); api_key and none links get their secrets as they are."""
    store = opened.store
    if link.auth != "oauth2":
        return store.credentials(link)[1]
    policy = policy or RefreshPolicy()
    margin = opened.workspace.settings.refresh_margin_s if margin_s is None else margin_s
    _, app = oauth_connector(opened, link.flow, link.connector)
    deadline = time.monotonic() + policy.wait_s
    while True:
        current = _current(store, link)
        _check_usable(current, policy.cooldown_s)
        _, secrets = store.credentials(current)
        if is_fresh(secrets, now(), margin):
            return secrets
        # one thread per process goes on to the store's lease; the others wait here and then
        # find the new token on their next look (fewer transactions on the store)
        local = _process_lock(link.id)
        if not local.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise _waited_too_long(current, policy)
        try:
            got = _one_round(opened, current, app, now=now, margin=margin, policy=policy)
        finally:
            local.release()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise _waited_too_long(current, policy)


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(link_id: str) -> threading.Lock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(link_id, threading.Lock())


def _one_round(
    opened: Opened,
    link: Link,
    app: OAuthApp,
    *,
    now: Callable[[], float],
    margin: float,
    policy: RefreshPolicy,
) -> dict[str, Any] | None:
    """Refresh holding the link's lease, or wait while another process holds it: the fresh
    secrets, or None to look again."""
    store = opened.store
    current = _current(store, link)
    _check_usable(current, policy.cooldown_s)
    version, secrets = store.credentials(current)
    if is_fresh(secrets, now(), margin):  # another thread of this process refreshed it
        return secrets
    key = linklease.lease_key(link)
    lease = linklease.try_acquire(store, key, _owner(), policy.lease_ttl_s)
    if lease is None:
        _wait_for_change(store, current, version, key, time.monotonic() + policy.wait_s, policy)
        return None
    keeper = linklease.Keeper(store, lease)
    try:
        return _refresh(
            opened, current, app, now=now, margin=margin, policy=policy, keep=keeper.renew
        )
    except LeaseLost:
        return None  # it ran out while we waited to retry: whoever took it refreshes
    finally:
        keeper.release()


def _waited_too_long(link: Link, policy: RefreshPolicy) -> CredentialError:
    return CredentialError(
        f"another process was refreshing the token of {_names(link)} and did not finish "
        f"within {policy.wait_s:g} s",
        hint="run the job again; if it keeps happening, check the provider's token URL",
    )


def _wait_for_change(
    store: Store, link: Link, version: int, key: str, deadline: float, policy: RefreshPolicy
) -> None:
    """Wait while another process refreshes: until the credentials change, the link's status
    changes (a failed refresh), or the lease is free again (its holder died)."""
    seen = (version, link.status, link.last_error)
    while time.monotonic() < deadline:
        time.sleep(policy.poll_s)
        now_link = _current(store, link)
        if (now_link.credential_version, now_link.status, now_link.last_error) != seen:
            return
        if linklease.is_free(store, key):
            return
    raise _waited_too_long(link, policy)


def _refresh(
    opened: Opened,
    link: Link,
    app: OAuthApp,
    *,
    now: Callable[[], float],
    margin: float,
    policy: RefreshPolicy,
    keep: Callable[[], None],
) -> dict[str, Any]:
    """Holding the lease: re-read, call the token URL, compare-and-swap the new pair."""
    store = opened.store
    version, secrets = store.credentials(link)
    if is_fresh(secrets, now(), margin):  # another process refreshed before we took the lease
        return secrets
    try:
        body = _token_answer(app, secrets, policy.retry, keep)
    except oauthclient.TokenRejected as exc:
        theirs_version, theirs = store.credentials(link)
        if theirs_version != version and is_fresh(theirs, now(), margin):
            return theirs  # a refresher that took over our lapsed lease used the token first
        if exc.error in ("invalid_grant", "no_refresh_token"):
            message = (
                f"the provider refused the refresh of {_names(link)} ({exc.error}): "
                "the link needs re-authorisation"
            )
            store.set_link_status(link, LINK_NEEDS_REAUTH, message)
            _count(store, link, REFRESH_FAILED_ACTION)
            raise NeedsReauthorisation(message, hint=_relink(link)) from None
        _remember_failure(store, link, exc.message)
        raise
    except oauthclient.TokenEndpointDown as exc:
        _remember_failure(store, link, exc.message)
        raise
    new, expires_at = oauthclient.token_secrets(body, now(), old=secrets)
    swapped = store.swap_credentials(link, version, new, expires_at=expires_at)
    _count(store, link, REFRESHED_ACTION if swapped is not None else REFRESH_FAILED_ACTION)
    if swapped is None:
        # our lease ran out and another refresher committed first: theirs is the live pair
        _, theirs = store.credentials(link)
        if is_fresh(theirs, now(), margin):
            return theirs
        raise CredentialError(
            f"the credentials of {_names(link)} changed while refreshing them",
            hint="run the job again",
        )
    return new


def _token_answer(
    app: OAuthApp,
    secrets: Mapping[str, Any],
    retry: oauthclient.RetryPolicy,
    keep: Callable[[], None],
) -> dict[str, Any]:
    if app.grant == "client_credentials":
        return client_credentials_token(app, retry, between=keep)
    refresh_token = secrets.get("refresh_token")
    if not refresh_token:
        raise oauthclient.TokenRejected("no_refresh_token", app.token_url)
    return oauthclient.token_request(
        app,
        lambda s: s.refresh_token(
            app.token_url, refresh_token=refresh_token, timeout=retry.timeout_s
        ),
        policy=retry,
        between=keep,
    )


def _remember_failure(store: Store, link: Link, message: str) -> None:
    """Note a transient failure on the link (status stays ok) to start the cool-down."""
    store.set_link_status(link, LINK_OK, f"{REFRESH_FAILED}: {message}")
    _count(store, link, REFRESH_FAILED_ACTION)


def _count(store: Store, link: Link, action: str) -> None:
    """One audit row per refresh and its outcome: `glue serve`'s /metrics counts them, from
    whichever process refreshed (a job's, the server's)."""
    store.record(action, f"{link.flow}/{link.tenant}/{link.connector}")
