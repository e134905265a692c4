"""Receiving one OAuth callback for ``glue link``: a listener at the registered redirect URI,
or the redirect URL pasted back by the user (``--no-browser``), with a time limit.

The listener binds the exact host, port and path of the redirect URI (providers match it
exactly, so the port is fixed, never ephemeral), takes the first request to that path, and
answers the browser with a short page once the link is finished (or refused).
"""

from __future__ import annotations

import html
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from glue_runtime.errors import ConfigError, CredentialError

ANSWER_WAIT_S = 60.0  # how long the browser's request waits for the link to finish
_KEYS = ("state", "code", "error")


def callback_params(query: str) -> dict[str, str]:
    """The state, code and error of a callback's query string."""
    parsed = parse_qs(query)
    return {k: parsed[k][-1] for k in _KEYS if k in parsed}


@dataclass
class Callback:
    """One received callback: its parameters, and the page to send back to the browser."""

    params: dict[str, str]
    _answer: Future[str]

    def answer(self, text: str) -> None:
        if not self._answer.done():
            self._answer.set_result(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    path = "/"
    received: queue.Queue[Callback]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # the query holds the code: never logged
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.path:
            self._page(404, "Not the OAuth callback.")
            return
        answer: Future[str] = Future()
        self.server.received.put(Callback(callback_params(parts.query), answer))
        try:
            text = answer.result(timeout=ANSWER_WAIT_S)
        except FutureTimeout:
            text = "Received. Return to the terminal."
        self._page(200, text)

    def _page(self, status: int, text: str) -> None:
        body = (
            f"<!doctype html><meta charset=utf-8><title>glue link</title><p>{html.escape(text)}</p>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CallbackListener:
    """A one-shot HTTP listener at a redirect URI (``http://127.0.0.1:PORT/PATH``)."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                f"oauth.redirect_uri {redirect_uri!r} is not a local http address, so "
                "`glue link` cannot receive the callback",
                hint="register http://127.0.0.1:PORT/callback with the provider, or use "
                "--no-browser and paste the redirect URL back",
            )
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self._server: _Server | None = None

    def __enter__(self) -> CallbackListener:
        try:
            server = _Server((self.host, self.port), _Handler)
        except OSError as exc:
            raise CredentialError(
                f"cannot listen on {self.host}:{self.port} for the OAuth callback: {exc.strerror}",
                hint="another program (or another `glue link`) uses that port; stop it, or use "
                "--no-browser and paste the redirect URL back",
            ) from None
        server.path = self.path
        server.received = queue.Queue()
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait(self, timeout_s: float) -> Callback:
        """The first callback; CredentialError when none arrives within ``timeout_s``."""
        assert self._server is not None, "use the listener as a context manager"
        try:
            return self._server.received.get(timeout=timeout_s)
        except queue.Empty:
            raise _timed_out(timeout_s) from None


def _timed_out(timeout_s: float) -> CredentialError:
    return CredentialError(
        f"no OAuth callback within {timeout_s:g} s; nothing was stored",
        hint="run `glue link` again (and approve in the browser sooner), "
        "or give a longer --timeout",
    )


def wait_for_paste(read_pasted: Callable[[], str], timeout_s: float) -> dict[str, str]:
    """The callback parameters of the redirect URL the user pastes, within ``timeout_s``."""
    got: queue.Queue[str | BaseException] = queue.Queue()

    def read() -> None:
        try:
            got.put(read_pasted())
        except BaseException as exc:  # EOF, Ctrl-C: handed to the waiting thread
            got.put(exc)

    threading.Thread(target=read, daemon=True).start()
    try:
        pasted = got.get(timeout=timeout_s)
    except queue.Empty:
        raise _timed_out(timeout_s) from None
    if isinstance(pasted, BaseException):
        raise CredentialError("no redirect URL was pasted; nothing was stored") from None
    params = callback_params(urlsplit(pasted.strip()).query)
    if "state" not in params:
        raise CredentialError(
            "the pasted text is not the redirect URL (it has no state parameter)",
            hint="paste the whole address from the browser's address bar, starting with http",
        )
    return params
