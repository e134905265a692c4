"""Retries, error messages and redaction shared by data requests and token requests."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Generator, Iterable
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

T = TypeVar("T")

#: Longest wait we accept from a Retry-After header, so a bad header cannot hang a job.
MAX_WAIT_SECONDS = 600.0

#: Connection-level failures worth another try.
TRANSIENT = (
    RetriableAPIError,
    ConnectionResetError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


class Redactor:
    """Masks secret values and secret query parameters in any text we log or raise."""

    def __init__(self, secrets: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        self.secrets: set[str] = {s for s in secrets if s and len(s) >= 3}
        self.params: set[str] = {p.lower() for p in params}

    def add(self, value: str | None) -> None:
        if value and len(value) >= 3:
            self.secrets.add(value)

    def text(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def url(self, url: str) -> str:
        """Path and query of a URL, auth parameters masked (the host is in the config)."""
        parts = urlsplit(url)
        query = [
            (k, "***" if k.lower() in self.params else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        path = parts.path or "/"
        return self.text(f"{path}?{urlencode(query, safe='*')}" if query else path)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if present."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(float(value), MAX_WAIT_SECONDS))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_WAIT_SECONDS))


def wait_generator(factor: float) -> Generator[float, Any, None]:
    """backoff wait generator: Retry-After when the server sent one, else factor * 2**n.

    backoff sends the caught exception in, so the response's header is in reach.
    """
    exc = yield  # type: ignore[misc]
    n = 0
    while True:
        response = getattr(exc, "response", None)
        after = retry_after_seconds(response)
        wait = after if after is not None else min(factor * (2**n), MAX_WAIT_SECONDS)
        n += 1
        exc = yield wait


def is_retriable_status(status: int) -> bool:
    return status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR


def response_message(response: requests.Response, limit: int = 500) -> str:
    """The API's own explanation: a JSON message/error field, else the body's start."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = []
        for key in ("message", "error", "error_description", "detail", "title", "errors"):
            value = body.get(key)
            if value:
                parts.append(value if isinstance(value, str) else json.dumps(value))
        if parts:
            text = "; ".join(parts)
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def error_message(response: requests.Response, redactor: Redactor, what: str) -> str:
    """`<what>: HTTP 404 Not Found for GET /path?q=1: <API message>`, secrets masked."""
    method = response.request.method if response.request is not None else "GET"
    reason = response.reason or HTTPStatus(response.status_code).phrase
    msg = f"{what}: HTTP {response.status_code} {reason} for {method} {redactor.url(response.url)}"
    detail = response_message(response)
    if detail:
        msg += f": {detail}"
    return redactor.text(msg)


def check_response(response: requests.Response, redactor: Redactor, what: str) -> None:
    """Raise RetriableAPIError for 429/5xx and FatalAPIError for other 4xx."""
    status = response.status_code
    if status < HTTPStatus.BAD_REQUEST:
        return
    msg = error_message(response, redactor, what)
    if is_retriable_status(status):
        raise RetriableAPIError(msg, response)
    raise FatalAPIError(msg)


class RequestFailedError(FatalAPIError):
    """A request that failed at the connection level after every retry (message redacted)."""


def with_retries(
    func: Callable[..., T],
    *,
    max_retries: int,
    backoff_factor: float,
    redactor: Redactor,
    logger: logging.Logger,
    what: str,
) -> Callable[..., T]:
    """Wrap func: retry TRANSIENT failures up to max_retries times, then raise a clean error."""

    def on_backoff(details: dict[str, Any]) -> None:
        exc = details.get("exception")
        reason = str(exc) if isinstance(exc, RetriableAPIError) else type(exc).__name__
        logger.warning(
            "%s: try %d failed (%s); retrying in %.2fs",
            what,
            details["tries"],
            redactor.text(reason),
            details["wait"],
        )

    retrying = backoff.on_exception(
        wait_generator,
        TRANSIENT,
        max_tries=max_retries + 1,
        jitter=None,
        on_backoff=on_backoff,
        logger=None,
        factor=backoff_factor,
    )(func)

    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return retrying(*args, **kwargs)
        except RetriableAPIError as exc:
            raise RetriableAPIError(
                f"{exc.args[0]} (gave up after {max_retries + 1} tries)", exc.response
            ) from None
        except requests.exceptions.RequestException as exc:
            # requests' messages carry the full URL, query string (and any key in it) included.
            raise RequestFailedError(
                f"{what}: {type(exc).__name__} after {max_retries + 1} tries: "
                f"{redactor.text(_strip_urls(str(exc), redactor))}"
            ) from None
        except ConnectionResetError as exc:
            raise RequestFailedError(f"{what}: connection reset: {exc}") from None

    return call


def _strip_urls(text: str, redactor: Redactor) -> str:
    """Mask the query string in `url: /path?...` fragments of urllib3 messages."""
    out = []
    for word in text.split(" "):
        if "?" in word and "=" in word:
            word = redactor.url(word.rstrip(",)")) + word[len(word.rstrip(",)")) :]
        out.append(word)
    return " ".join(out)
