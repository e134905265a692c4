"""Request authentication: API key, HTTP basic, OAuth2 client credentials and refresh token.

One auth object is shared by every stream of a tap, so an OAuth2 token is fetched once and
reused until it expires, and a rotated refresh token is saved once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from glue_rest.http import Redactor, check_response, with_retries

#: Refresh a token this many seconds before the server says it expires (clock skew, slow calls).
EXPIRY_MARGIN_SECONDS = 30.0


def _set_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


class ApiKeyAuth(AuthBase):
    """An API key in a header or a query parameter (idempotent: safe to apply twice)."""

    def __init__(self, value: str, header: str | None = None, query: str | None = None) -> None:
        self.value = value
        self.header = header
        self.query = query

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.header:
            r.headers[self.header] = self.value
        else:
            r.url = _set_query_param(r.url or "", self.query or "api_key", self.value)
        return r


class BasicAuth(HTTPBasicAuth):
    """HTTP basic auth (requests' own)."""


def save_refresh_token(config_path: Path, new_token: str, logger: logging.Logger) -> None:
    """Write the rotated refresh token into the config file: temp file, fsync, rename.

    The file keeps every other setting and its permissions; a crash leaves the old or the new
    file, never half of one.
    """
    data = json.loads(config_path.read_text(encoding="utf-8"))
    auth = data.get("auth")
    if not isinstance(auth, dict):
        auth = data["auth"] = {}
    auth["refresh_token"] = new_token
    mode = config_path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{config_path.name}.", dir=config_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, config_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("OAuth2 refresh token was rotated; saved the new one to %s", config_path)


class OAuth2Auth(AuthBase):
    """Bearer tokens from a token endpoint, cached until shortly before they expire."""

    def __init__(
        self,
        auth: dict[str, Any],
        *,
        redactor: Redactor,
        logger: logging.Logger,
        max_retries: int,
        backoff_factor: float,
        timeout: float,
        config_path: Path | None,
    ) -> None:
        self.grant = (
            "refresh_token" if auth["type"] == "oauth2_refresh_token" else "client_credentials"
        )
        self.token_url: str = auth["token_url"]
        self.client_id: str = auth["client_id"]
        self.client_secret: str | None = auth.get("client_secret")
        self.scope: str | None = auth.get("scope")
        self.refresh_token: str | None = auth.get("refresh_token")
        self.client_auth: str = auth.get("client_auth") or "body"
        self.redactor = redactor
        self.logger = logger
        self.timeout = timeout
        self.config_path = config_path
        self.access_token: str | None = None
        self.expires_at: float | None = None
        self.tokens_fetched = 0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._post = with_retries(
            self._post_once,
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            redactor=redactor,
            logger=logger,
            what="OAuth2 token request",
        )

    def _post_once(self, data: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        response = self._session.post(
            self.token_url,
            data=data,
            auth=basic,
            headers={"Accept": "application/json"},
            timeout=self.timeout,
        )
        check_response(response, self.redactor, "OAuth2 token request")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ValueError(
                "OAuth2 token request: the token endpoint's response has no access_token; "
                "check auth.token_url."
            )
        return body

    def valid(self) -> bool:
        if self.access_token is None:
            return False
        return self.expires_at is None or time.monotonic() < self.expires_at

    def invalidate(self) -> None:
        """Forget the cached token (e.g. after the API answered 401)."""
        with self._lock:
            self.access_token = None

    def token(self) -> str:
        with self._lock:
            if not self.valid():
                self._fetch()
            assert self.access_token is not None
            return self.access_token

    def _fetch(self) -> None:
        data = {"grant_type": self.grant}
        if self.grant == "refresh_token":
            data["refresh_token"] = self.refresh_token or ""
        if self.scope:
            data["scope"] = self.scope
        basic = None
        if self.client_auth == "basic":
            basic = (self.client_id, self.client_secret or "")
        else:
            data["client_id"] = self.client_id
            if self.client_secret:
                data["client_secret"] = self.client_secret
        self.logger.info("Requesting an OAuth2 access token (%s grant)", self.grant)
        body = self._post(data, basic)
        self.access_token = str(body["access_token"])
        self.redactor.add(self.access_token)
        self.tokens_fetched += 1
        expires_in = body.get("expires_in")
        try:
            seconds = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is None:
            self.expires_at = None
        else:
            margin = min(EXPIRY_MARGIN_SECONDS, seconds / 10)
            self.expires_at = time.monotonic() + seconds - margin
        new_refresh = body.get("refresh_token")
        if self.grant == "refresh_token" and new_refresh and new_refresh != self.refresh_token:
            self.refresh_token = str(new_refresh)
            self.redactor.add(self.refresh_token)
            self._keep_refresh_token()

    def _keep_refresh_token(self) -> None:
        if self.config_path is None:
            self.logger.warning(
                "OAuth2 refresh token was rotated, but the config did not come from a file "
                "(--config), so the new one could not be saved; the next run may fail to log in."
            )
            return
        save_refresh_token(self.config_path, self.refresh_token or "", self.logger)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        return r


def build_auth(
    auth: dict[str, Any] | None,
    *,
    redactor: Redactor,
    logger: logging.Logger,
    max_retries: int,
    backoff_factor: float,
    timeout: float,
    config_path: Path | None,
) -> AuthBase | None:
    """The auth object for the `auth` setting (already checked by spec.check_auth)."""
    if not auth:
        return None
    kind = auth["type"]
    if kind == "api_key":
        return ApiKeyAuth(auth["value"], header=auth.get("header"), query=auth.get("query"))
    if kind == "basic":
        return BasicAuth(auth["username"], auth["password"])
    return OAuth2Auth(
        auth,
        redactor=redactor,
        logger=logger,
        max_retries=max_retries,
        backoff_factor=backoff_factor,
        timeout=timeout,
        config_path=config_path,
    )
