"""Linking a tenant's OAuth2 connector: the authorization code flow with the store, the client
credentials grant, link tokens and revocation.

``start_link`` makes the authorize URL and remembers its ``state`` (>= 128 random bits, stored
only as a sha256 hash, bound to the flow, tenant, connector and redirect URI, expiring after
``settings.oauth_state_ttl_s``) and the PKCE verifier (encrypted). ``finish_link`` claims the
state in one short transaction (unknown, used, expired, foreign or wrong-redirect states are
refused and nothing is stored), then exchanges the code outside any transaction and saves the
link. ``link_interactively`` is what ``glue link`` does for an OAuth2 connector.
"""

from __future__ import annotations

import hashlib
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from authlib.common.security import generate_token

from glue_runtime.errors import ConfigError, CredentialError
from glue_runtime.workspace import oauthclient
from glue_runtime.workspace.appsecrets import resolve_oauth_app
from glue_runtime.workspace.callback import CallbackListener, wait_for_paste
from glue_runtime.workspace.model import OAuthApp, SupportedConnector
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.store import Link, Store, link_tokens, oauth_states

STATE_CHARS = 43  # of 62 letters and digits: 256 bits
VERIFIER_CHARS = 64  # RFC 7636: 43-128 characters
LINK_TOKEN_CHARS = 43
STALE_STATE_S = 86400.0  # expired states are purged a day after they expire


@dataclass(frozen=True)
class StartedLink:
    """An authorize URL to send the tenant's browser to, and its ``state`` (not shown in reprs)."""

    url: str = field(repr=False)
    state: str = field(repr=False)
    expires_at: float
    redirect_uri: str = ""


def digest(value: str) -> str:
    """The sha256 hex digest the store keeps instead of a state value or link token."""
    return hashlib.sha256(value.encode()).hexdigest()


def oauth_app(opened: Opened, flow: str, supported: SupportedConnector) -> OAuthApp:
    """The connector's OAuth app with its client secret (glue.yml's, or the store's)."""
    return resolve_oauth_app(opened, flow, supported)


def oauth_connector(
    opened: Opened, flow: str, connector: str
) -> tuple[SupportedConnector, OAuthApp]:
    """The supported connector and its app; ConfigError when it does not use OAuth2."""
    supported = opened.workspace.flow(flow).connector(connector)
    if supported.auth != "oauth2" or supported.oauth is None:
        raise ConfigError(
            f"connector '{connector}' of flow '{flow}' does not use OAuth2 "
            f"(auth: {supported.auth})",
            hint="give it auth: oauth2 and an oauth: section in glue.yml, "
            "or link it with its settings",
        )
    return supported, oauth_app(opened, flow, supported)


def _relink_hint(flow: str, tenant: str, connector: str) -> str:
    return f"start again: `glue link {flow} {connector} --tenant {tenant}`"


# -- the authorization code flow -----------------------------------------------------------


def start_link(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str,
    *,
    redirect_uri: str | None = None,
    now: Callable[[], float] = time.time,
) -> StartedLink:
    """The authorize URL for ``tenant`` to link ``connector`` of ``flow``; its state is stored."""
    _, app = oauth_connector(opened, flow, connector)
    if app.grant != "authorization_code" or not app.authorize_url:
        raise ConfigError(
            f"connector '{connector}' of flow '{flow}' uses the {app.grant} grant "
            "(no authorize_url): there is no browser step",
            hint="link it with link_client_credentials (what `glue link` does for it)",
        )
    redirect = redirect_uri or app.redirect_uri
    if not redirect:
        raise ConfigError(
            f"connector '{connector}' of flow '{flow}' names no oauth.redirect_uri",
            hint="set it to the redirect URI registered with the provider, exactly",
        )
    opened.store.tenant(tenant)
    state = generate_token(STATE_CHARS)
    verifier = generate_token(VERIFIER_CHARS) if app.pkce else None
    state_hash = digest(state)
    at = now()
    expires_at = at + opened.workspace.settings.oauth_state_ttl_s
    sealed = (
        opened.store.seal({"verifier": verifier}, f"oauth_state:{state_hash}") if verifier else None
    )
    with opened.store.write() as conn:
        conn.execute(sa.delete(oauth_states).where(oauth_states.c.expires_at < at - STALE_STATE_S))
        conn.execute(
            sa.insert(oauth_states).values(
                state_hash=state_hash,
                flow=flow,
                tenant=tenant,
                connector=connector,
                redirect_uri=redirect,
                verifier=sealed,
                expires_at=expires_at,
            )
        )
    with oauthclient.session(app, redirect_uri=redirect) as s:
        url, _ = s.create_authorization_url(
            app.authorize_url, state=state, code_verifier=verifier, **app.authorize_params
        )
    return StartedLink(str(url), state, expires_at, redirect)


@dataclass(frozen=True)
class _Claimed:
    flow: str
    tenant: str
    connector: str
    redirect_uri: str
    verifier: str | None = field(repr=False)


def _refusal(row: Any, at: float, redirect_uri: str | None, expect: dict[str, str | None]) -> str:
    """Why a callback's state cannot finish a link ("" when it can)."""
    if row is None:
        return "its state is unknown (not made by start_link here, or purged)"
    if row.used_at is not None:
        return "its state was already used (a replayed callback)"
    if row.expires_at <= at:
        return "its state expired"
    for what, want in expect.items():
        if want is not None and getattr(row, what) != want:
            return f"its state was issued for another {what}"
    if redirect_uri is not None and redirect_uri != row.redirect_uri:
        return "its redirect URI is not the one the link started with"
    return ""


def _claim_state(
    store: Store,
    state: str,
    *,
    at: float,
    redirect_uri: str | None,
    expect: dict[str, str | None],
) -> _Claimed:
    """Check the state and mark it used, in one transaction (so only one callback wins)."""
    state_hash = digest(state)
    with store.write() as conn:
        row = conn.execute(
            sa.select(oauth_states).where(oauth_states.c.state_hash == state_hash)
        ).first()
        why = _refusal(row, at, redirect_uri, expect)
        if not why:
            conn.execute(
                sa.update(oauth_states)
                .where(oauth_states.c.state_hash == state_hash)
                .values(used_at=at, verifier=None)
            )
    if why or row is None:
        raise CredentialError(
            f"OAuth callback refused: {why}; nothing was stored",
            hint=_relink_hint(row.flow, row.tenant, row.connector) if row is not None else None,
        )
    verifier = (
        store.unseal(row.verifier, f"oauth_state:{state_hash}").get("verifier")
        if row.verifier
        else None
    )
    return _Claimed(row.flow, row.tenant, row.connector, row.redirect_uri, verifier)


def finish_link(
    opened: Opened,
    state: str,
    *,
    code: str | None = None,
    error: str | None = None,
    redirect_uri: str | None = None,
    now: Callable[[], float] = time.time,
    flow: str | None = None,
    tenant: str | None = None,
    connector: str | None = None,
    policy: oauthclient.RetryPolicy | None = None,
) -> Link:
    """Finish the link a callback is for: check its state, exchange the code, save the tokens.

    ``flow``/``tenant``/``connector``, when given, must be what the state was issued for (a
    web app passes the tenant the browser's link token is for). Refused callbacks store nothing.
    """
    claimed = _claim_state(
        opened.store,
        state,
        at=now(),
        redirect_uri=redirect_uri,
        expect={"flow": flow, "tenant": tenant, "connector": connector},
    )
    where = f"tenant '{claimed.tenant}', flow '{claimed.flow}', connector '{claimed.connector}'"
    hint = _relink_hint(claimed.flow, claimed.tenant, claimed.connector)
    if error:
        raise CredentialError(
            f"the provider did not authorise {where}: {oauthclient.safe_error(error)}", hint=hint
        )
    if not code:
        raise CredentialError(f"the OAuth callback for {where} carries no code", hint=hint)
    supported, app = oauth_connector(opened, claimed.flow, claimed.connector)
    body = oauthclient.token_request(
        app,
        lambda s: s.fetch_token(
            app.token_url,
            grant_type="authorization_code",
            code=code,
            code_verifier=claimed.verifier,
            timeout=(policy or oauthclient.RetryPolicy()).timeout_s,
        ),
        policy=policy or oauthclient.RetryPolicy(),
        redirect_uri=claimed.redirect_uri,
    )
    secrets, expires_at = oauthclient.token_secrets(body, now())
    link = opened.store.save_link(
        flow=claimed.flow,
        tenant=claimed.tenant,
        connector=claimed.connector,
        direction=supported.direction,
        auth="oauth2",
        settings={},
        secrets=secrets,
        expires_at=expires_at,
    )
    _forget_link_tokens(opened.store, claimed.flow, claimed.tenant, claimed.connector)
    return link


# -- link tokens: what a builder's web page hands the tenant's browser ----------------------


def issue_link_token(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str,
    *,
    ttl_s: float | None = None,
    now: Callable[[], float] = time.time,
) -> str:
    """A short-lived token for one tenant and connector (stored hashed; valid until it expires
    or the link finishes)."""
    opened.workspace.flow(flow).connector(connector)
    opened.store.tenant(tenant)
    token: str = generate_token(LINK_TOKEN_CHARS)
    ttl = opened.workspace.settings.link_token_ttl_s if ttl_s is None else ttl_s
    with opened.store.write() as conn:
        conn.execute(sa.delete(link_tokens).where(link_tokens.c.expires_at < now()))
        conn.execute(
            sa.insert(link_tokens).values(
                token_hash=digest(token),
                flow=flow,
                tenant=tenant,
                connector=connector,
                expires_at=now() + ttl,
            )
        )
    return token


def redeem_link_token(
    opened: Opened, token: str, *, now: Callable[[], float] = time.time
) -> tuple[str, str, str]:
    """(flow, tenant, connector) a link token is for; CredentialError when unknown or expired."""
    with opened.store.engine.connect() as conn:
        row = conn.execute(
            sa.select(link_tokens).where(link_tokens.c.token_hash == digest(token))
        ).first()
    if row is None:
        raise CredentialError("unknown link token (never issued, or its link already finished)")
    if row.expires_at <= now():
        raise CredentialError(
            f"the link token for tenant '{row.tenant}' expired",
            hint="ask for a new one (issue_link_token)",
        )
    return str(row.flow), str(row.tenant), str(row.connector)


def _forget_link_tokens(store: Store, flow: str, tenant: str, connector: str) -> None:
    with store.write() as conn:
        conn.execute(
            sa.delete(link_tokens).where(
                link_tokens.c.flow == flow,
                link_tokens.c.tenant == tenant,
                link_tokens.c.connector == connector,
            )
        )


# -- glue link, client credentials, revocation -----------------------------------------------


def link_interactively(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str,
    *,
    open_browser: bool,
    timeout_s: float,
    say: Callable[[str], None],
    read_pasted: Callable[[], str] | None = None,
) -> Link:
    """What ``glue link`` does for an OAuth2 connector: the authorize URL, then the callback
    (a one-shot listener at the registered redirect URI, or the redirect URL pasted back)."""
    _, app = oauth_connector(opened, flow, connector)
    if app.grant == "client_credentials":
        return link_client_credentials(opened, flow, tenant, connector)
    expect = {"flow": flow, "tenant": tenant, "connector": connector}
    if read_pasted is not None:
        started = start_link(opened, flow, tenant, connector)
        _show(started, say, open_browser)
        say("After approving, paste the full URL the browser was sent to (it shows an error page):")
        return _finish(opened, started, expect, wait_for_paste(read_pasted, timeout_s))
    with CallbackListener(app.redirect_uri or "") as listener:
        started = start_link(opened, flow, tenant, connector)
        _show(started, say, open_browser)
        say(f"Waiting up to {timeout_s:g} s for the provider to send the browser back...")
        callback = listener.wait(timeout_s)
        try:
            link = _finish(opened, started, expect, callback.params)
        except CredentialError as exc:
            callback.answer(f"Not linked: {exc.message}")
            raise
        callback.answer(f"Linked {connector} for tenant {tenant}. You can close this window.")
        return link


def _finish(
    opened: Opened, started: StartedLink, expect: dict[str, str], params: dict[str, str]
) -> Link:
    return finish_link(
        opened,
        params.get("state", ""),
        code=params.get("code"),
        error=params.get("error"),
        redirect_uri=started.redirect_uri,
        flow=expect["flow"],
        tenant=expect["tenant"],
        connector=expect["connector"],
    )


def _show(started: StartedLink, say: Callable[[str], None], open_browser: bool) -> None:
    say(f"Open this URL to authorise the link:\n  {started.url}")
    if open_browser:
        webbrowser.open(started.url)


def link_client_credentials(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str,
    *,
    now: Callable[[], float] = time.time,
    policy: oauthclient.RetryPolicy | None = None,
) -> Link:
    """Link with the client credentials grant: a token fetched with the app's own client id
    and secret (refreshed later by fetching again)."""
    supported, app = oauth_connector(opened, flow, connector)
    opened.store.tenant(tenant)
    body = client_credentials_token(app, policy or oauthclient.RetryPolicy())
    secrets, expires_at = oauthclient.token_secrets(body, now())
    return opened.store.save_link(
        flow=flow,
        tenant=tenant,
        connector=connector,
        direction=supported.direction,
        auth="oauth2",
        settings={},
        secrets=secrets,
        expires_at=expires_at,
    )


def client_credentials_token(
    app: OAuthApp,
    policy: oauthclient.RetryPolicy,
    *,
    between: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """A token answer of the client credentials grant (with retries)."""
    return oauthclient.token_request(
        app,
        lambda s: s.fetch_token(
            app.token_url,
            grant_type="client_credentials",
            timeout=policy.timeout_s,
        ),
        policy=policy,
        between=between,
    )


def revoke_tokens(app: OAuthApp, secrets: dict[str, Any]) -> bool:
    """Revoke a link's tokens at the app's revoke_url (RFC 7009, refresh token first). False
    when the connector names no revoke_url or the provider refused (logged without values)."""
    return oauthclient.revoke(app, secrets)
