"""A real OAuth2 authorization server and API on 127.0.0.1, for tests and the offline example.

What a provider does that the workspace layer must cope with: an authorize endpoint that
checks the client and its exact redirect URI and redirects back with a ``code`` (or
``error=access_denied``); a token endpoint with PKCE S256, refresh tokens that rotate (the old
one is invalid the moment the new one is issued), short-lived access tokens, the client
credentials grant, and failures on demand (429 with Retry-After, 503, ``invalid_grant``, an
answer held until the test releases it); RFC 7009 revocation; and a small API whose data
differs per account (``/api/contacts?page=N``), readable by the bundled rest tap.

Use it as a context manager (``with OAuthProvider() as p: p.url``), or run it with
``python -m glue_runtime.testing.oauth_provider --port 8765``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "glue-test-client"
CLIENT_SECRET = "glue-test-client-secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback"
PAGE_SIZE = 2


def default_accounts() -> dict[str, list[dict[str, Any]]]:
    """Each account's contacts: different ids and names, so tests see whose data they got."""
    return {
        account: [
            {
                "id": f"{account}-{i}",
                "name": f"contact {i} of {account}",
                "updated_at": f"2024-01-0{i}T00:00:00Z",
            }
            for i in range(1, 4)
        ]
        for account in ("account-a", "account-b")
    }


@dataclass
class _Grant:
    """What a code or refresh token was issued for."""

    account: str
    client_id: str
    scope: str
    redirect_uri: str = ""
    challenge: str | None = None
    expires_at: float = 0.0


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    retry_after: str | None = None


@dataclass
class ProviderState:
    """What the provider has issued and how it should misbehave next (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, _Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, _Grant] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # -> account, exp
    faults: list[_Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # token requests per grant_type
    revoked: list[str] = field(default_factory=list)  # token_type_hint of each revocation
    api_calls: Counter[str] = field(default_factory=Counter)  # per account


class OAuthProvider:
    """The server. Change ``approve_as``, ``deny`` and the failure methods between requests."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,),
        access_ttl_s: float = 3600.0,
        code_ttl_s: float = 60.0,
        accounts: dict[str, list[dict[str, Any]]] | None = None,
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = redirect_uris
        self.access_ttl_s = access_ttl_s
        self.code_ttl_s = code_ttl_s
        self.accounts = accounts if accounts is not None else default_accounts()
        self.clock = clock
        self.approve_as = next(iter(self.accounts), "account-a")
        self.deny = False
        self.state = ProviderState()
        self._hold = threading.Event()
        self._hold.set()  # set = answer at once
        self.held = threading.Event()  # set while a held token answer is waiting
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.provider = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifetime ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OAuthProvider:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OAuthProvider:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- what tests change -------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, *, retry_after: float | None = None) -> None:
        """Make the next ``times`` token requests fail: ``"429"``, ``"503"`` or
        ``"invalid_grant"`` (400)."""
        statuses = {"429": 429, "503": 503, "invalid_grant": 400}
        if kind not in statuses:
            raise ValueError(f"unknown failure {kind!r}: one of {', '.join(statuses)}")
        body = {"error": "invalid_grant"} if kind == "invalid_grant" else {"error": "unavailable"}
        after = None if retry_after is None else f"{retry_after:g}"
        with self.state.lock:
            self.state.faults.extend(_Fault(statuses[kind], body, after) for _ in range(times))

    def hold(self) -> None:
        """Hold refresh answers (after rotating the tokens) until :meth:`release`."""
        self._hold.clear()

    def release(self) -> None:
        self._hold.set()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (the API answers 401)."""
        with self.state.lock:
            for token, (account, _) in list(self.state.access_tokens.items()):
                self.state.access_tokens[token] = (account, 0.0)

    def calls(self, grant: str) -> int:
        """How many token requests of ``grant`` arrived (failed ones included)."""
        with self.state.lock:
            return self.state.calls[grant]

    # -- endpoints (called by the handler) ---------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        """(status, headers): a redirect back to the client, or 400 for a bad client."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return 400, {}
        back: dict[str, str] = {"state": query.get("state", "")}
        if self.deny:
            back["error"] = "access_denied"
        elif query.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        else:
            code = secrets.token_urlsafe(24)
            method = query.get("code_challenge_method")
            challenge = query.get("code_challenge")
            if challenge is not None and method != "S256":
                back["error"] = "invalid_request"
            else:
                account = query.get("login_hint") or self.approve_as
                with self.state.lock:
                    self.state.codes[code] = _Grant(
                        account,
                        self.client_id,
                        query.get("scope", ""),
                        redirect_uri,
                        challenge,
                        self.clock() + self.code_ttl_s,
                    )
                back["code"] = code
        return 302, {"Location": f"{redirect_uri}?{urlencode(back)}"}

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> _Fault | dict[str, Any]:
        """The token endpoint: a fault (an error answer) or the token body."""
        grant = form.get("grant_type", "")
        with self.state.lock:
            self.state.calls[grant] += 1
            if self.state.faults:
                return self.state.faults.pop(0)
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        if client_id != self.client_id or secret != self.client_secret:
            return _Fault(401, {"error": "invalid_client"})
        with self.state.lock:
            if grant == "authorization_code":
                return self._code_grant(form)
            if grant == "refresh_token":
                return self._refresh_grant(form)
            if grant == "client_credentials":
                return self._issue(_Grant("client", self.client_id, form.get("scope", "")), False)
        return _Fault(400, {"error": "unsupported_grant_type"})

    def _code_grant(self, form: dict[str, str]) -> _Fault | dict[str, Any]:
        issued = self.state.codes.pop(form.get("code", ""), None)  # single use
        if (
            issued is None
            or issued.expires_at < self.clock()
            or issued.redirect_uri != form.get("redirect_uri")
        ):
            return _Fault(400, {"error": "invalid_grant"})
        if issued.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != issued.challenge:
                return _Fault(400, {"error": "invalid_grant", "error_description": "PKCE"})
        return self._issue(issued, True)

    def _refresh_grant(self, form: dict[str, str]) -> _Fault | dict[str, Any]:
        issued = self.state.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotates
        if issued is None:
            return _Fault(400, {"error": "invalid_grant"})
        return self._issue(issued, True)

    def _issue(self, grant: _Grant, with_refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self.state.access_tokens[access] = (grant.account, self.clock() + self.access_ttl_s)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
            "scope": grant.scope,
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(24)
            self.state.refresh_tokens[refresh] = _Grant(grant.account, grant.client_id, grant.scope)
            body["refresh_token"] = refresh
        return body

    def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009: an unknown token is not an error; a refresh token takes nothing else."""
        token = form.get("token", "")
        with self.state.lock:
            if self.state.refresh_tokens.pop(token, None) is not None:
                self.state.revoked.append("refresh_token")
            elif self.state.access_tokens.pop(token, None) is not None:
                self.state.revoked.append("access_token")

    def api_account(self, authorization: str) -> str | None:
        """The account a bearer token belongs to, or None when it is unknown or expired."""
        if not authorization.startswith("Bearer "):
            return None
        with self.state.lock:
            found = self.state.access_tokens.get(authorization[7:])
        if found is None or found[1] < self.clock():
            return None
        return found[0]

    def wait_if_held(self) -> None:
        if not self._hold.is_set():
            self.held.set()
            self._hold.wait()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet: tests read the state instead
        pass

    @property
    def provider(self) -> OAuthProvider:
        found: OAuthProvider = self.server.provider  # type: ignore[attr-defined]
        return found

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    def _basic(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/authorize":
            status, headers = self.provider.authorize(query)
            self._send(status, {"error": "invalid_client"} if status == 400 else None, headers)
        elif parts.path == "/api/contacts":
            self._contacts(query)
        else:
            self._send(404, {"error": "not_found"})

    def _contacts(self, query: dict[str, str]) -> None:
        provider = self.provider
        account = provider.api_account(self.headers.get("Authorization", ""))
        if account is None:
            self._send(401, {"error": "invalid_token"})
            return
        with provider.state.lock:
            provider.state.api_calls[account] += 1
        rows = provider.accounts.get(account, [])
        page = int(query.get("page") or 1)
        chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        has_more = page * PAGE_SIZE < len(rows)
        self._send(200, {"data": chunk, "page": page, "has_more": has_more})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = self._form()
        if path == "/token":
            answer = self.provider.token(form, self._basic())
            if isinstance(answer, _Fault):
                headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
                self._send(answer.status, answer.body, headers)
                return
            if form.get("grant_type") == "refresh_token":
                self.provider.wait_if_held()
            self._send(200, answer, {"Cache-Control": "no-store"})
        elif path == "/revoke":
            self.provider.revoke(form)
            self._send(200)
        else:
            self._send(404, {"error": "not_found"})


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted (the offline example workspace's provider and API)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--client-secret", default=CLIENT_SECRET)
    parser.add_argument("--redirect-uri", action="append", default=None)
    parser.add_argument("--access-ttl", type=float, default=3600.0, help="seconds")
    args = parser.parse_args(argv)
    provider = OAuthProvider(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=tuple(args.redirect_uri or (DEFAULT_REDIRECT_URI,)),
        access_ttl_s=args.access_ttl,
        port=args.port,
    )
    print(f"OAuth provider and API at {provider.url} (Ctrl-C stops it)", flush=True)
    try:
        provider._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        provider._server.server_close()


if __name__ == "__main__":  # pragma: no cover
    main()
