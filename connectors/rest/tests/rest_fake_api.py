"""A small real HTTP API on 127.0.0.1 for the tests: paged JSON, auth, OAuth2, faults.

Runs http.server in a daemon thread on an ephemeral port. Every request is logged so tests can
check what the tap actually sent.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "k-secret-123"
BASIC = ("ann", "pw-secret-456")
CLIENT_ID = "client-1"
CLIENT_SECRET = "cs-secret-789"
FIRST_REFRESH_TOKEN = "rt-initial-secret"

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_items(n: int = 25) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"item {i}",
            "updated_at": (T0 + timedelta(hours=i)).isoformat().replace("+00:00", "Z"),
            "price": round(1.25 * i, 2),
            "active": i % 2 == 0,
            "tags": [f"t{i % 3}"],
            "meta": {"color": "red" if i % 2 else "blue", "size": i},
        }
        for i in range(1, n + 1)
    ]


def make_notes(item_id: int) -> list[dict[str, Any]]:
    """Two notes per item, served at /v1/items/<id>/notes."""
    return [
        {
            "id": f"{item_id}-{k}",
            "item_id": item_id,
            "body": f"note {k} on item {item_id}",
            "updated_at": (T0 + timedelta(hours=item_id, minutes=k))
            .isoformat()
            .replace("+00:00", "Z"),
        }
        for k in (1, 2)
    ]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, str]
    at: float


@dataclass
class FakeAPI:
    """What the server serves and how it misbehaves; tests change these fields."""

    items: list[dict[str, Any]] = field(default_factory=make_items)
    requests: list[Seen] = field(default_factory=list)
    #: path -> [(status, retry_after or None), ...] served before the real answer.
    faults: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    token_expires_in: int | None = 3600
    access_tokens: set[str] = field(default_factory=set)
    refresh_token: str = FIRST_REFRESH_TOKEN
    tokens_issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    # -- data ----------------------------------------------------------------------------
    def selected(self, query: dict[str, str]) -> list[dict[str, Any]]:
        rows = self.items
        if "since" in query:
            rows = [r for r in rows if r["updated_at"] >= query["since"]]
        return rows

    # -- OAuth2 token endpoint -----------------------------------------------------------
    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict]:
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type")
        if client_id != CLIENT_ID or (grant == "client_credentials" and secret != CLIENT_SECRET):
            return 401, {"error": "invalid_client", "error_description": "Client unknown."}
        body: dict[str, Any] = {"token_type": "Bearer"}
        if grant == "refresh_token":
            if form.get("refresh_token") != self.refresh_token:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Refresh token is invalid or was already used.",
                }
            self.refresh_token = f"rt-rotated-{self.tokens_issued + 1}-secret"
            body["refresh_token"] = self.refresh_token
        elif grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        self.tokens_issued += 1
        access = f"at-{self.tokens_issued}-secret"
        self.access_tokens.add(access)
        body["access_token"] = access
        if self.token_expires_in is not None:
            body["expires_in"] = self.token_expires_in
        return 200, body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, form: dict[str, str]) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        api = self.server.api
        with api.lock:
            api.requests.append(
                Seen(self.command, parts.path, query, dict(self.headers), form, time.monotonic())
            )
        return parts.path, query

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        form = json.loads(raw or "{}") if is_json else {k: v[-1] for k, v in parse_qs(raw).items()}
        path, _ = self._record(form)
        api = self.server.api
        if self._fault(path):
            return
        if path == "/v1/search/items":  # a search endpoint: filters and paging in the body
            rows = [r for r in api.items if r["updated_at"] >= form.get("since", "")]
            if form.get("active") is not None:
                rows = [r for r in rows if r["active"] == form["active"]]
            page = int(form.get("page", 1))
            self._send(200, {"data": rows[(page - 1) * 10 : page * 10]})
            return
        if path != "/oauth/token":
            self._send(404, {"message": f"No route {path}"})
            return
        basic = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            basic = (user, pw)
        with api.lock:
            status, body = api.token(form, basic)
        self._send(status, body)

    def _fault(self, path: str) -> bool:
        api = self.server.api
        with api.lock:
            queue = api.faults.get(path)
            fault = queue.pop(0) if queue else None
        if fault is None:
            return False
        status, retry_after = fault
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._send(status, {"message": f"Injected failure {status}"}, headers)
        return True

    def _authorized(self, path: str, query: dict[str, str]) -> bool:
        api = self.server.api
        if path.startswith("/auth/header/"):
            return self.headers.get("X-API-Key") == API_KEY
        if path.startswith("/auth/query/"):
            return query.get("api_key") == API_KEY
        if path.startswith("/auth/basic/"):
            want = "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()
            return self.headers.get("Authorization") == want
        if path.startswith("/auth/bearer/"):
            auth = self.headers.get("Authorization", "")
            return auth.startswith("Bearer ") and auth[7:] in api.access_tokens
        return True

    def do_GET(self) -> None:
        path, query = self._record({})
        api = self.server.api
        if self._fault(path):
            return
        route = path.removeprefix("/v1")
        if not self._authorized(route, query):
            self._send(401, {"message": "Bad or missing credentials."})
            return
        child = re.fullmatch(r"/items/(\d+)/notes", route)
        if child:  # a child endpoint: each item's notes
            self._send_notes(int(child.group(1)), query)
            return
        leaf = path.rsplit("/", 2)[-2:]  # e.g. ["page", "items"]
        style = leaf[0] if leaf[-1] == "items" else None
        if route.startswith("/auth/"):
            style = "plain"
        rows = api.selected(query)
        page_of = _PAGE_STYLES.get(style or "")
        if page_of is None:
            self._send(404, {"message": f"No such endpoint: {path}"})
            return
        body, headers = page_of(rows, query, api.base_url)
        self._send(200, body, headers)

    def _send_notes(self, item_id: int, query: dict[str, str]) -> None:
        if not any(r["id"] == item_id for r in self.server.api.items):
            self._send(404, {"message": f"No item {item_id}"})
            return
        notes = [n for n in make_notes(item_id) if n["updated_at"] >= query.get("since", "")]
        self._send(200, {"data": notes})


# -- one page of rows in each pagination style: (body, headers) -------------------------------
Rows = list[dict[str, Any]]
Page = tuple[Any, dict[str, str]]


def _plain(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    return {"data": rows}, {}


def _page(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
    return {"data": rows[(page - 1) * size : page * size], "page": page}, {}


def _hasmore(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    """Full pages of 10, and a flag (no short last page needed)."""
    page = int(query.get("page", 1))
    chunk = rows[(page - 1) * 10 : page * 10]
    return {"data": chunk, "has_more": page * 10 < len(rows)}, {}


def _totalpages(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    page = int(query.get("page", 1))
    total = -(-len(rows) // 10)
    return {"data": rows[(page - 1) * 10 : page * 10], "meta": {"pages": total}}, {}


def _offset(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
    return {"results": rows[offset : offset + limit]}, {}


def _cursor(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    start = int(base64.b64decode(query["cursor"]).decode()) if "cursor" in query else 0
    end = start + 10
    nxt = base64.b64encode(str(end).encode()).decode() if end < len(rows) else None
    return {"items": rows[start:end], "meta": {"next_cursor": nxt}}, {}


def _link(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    after = int(query.get("after", 0))
    chunk = [r for r in rows if r["id"] > after][:10]
    more = chunk and chunk[-1]["id"] < rows[-1]["id"]
    links = {"next": f"/v1/link/items?after={chunk[-1]['id']}" if more else None}
    return {"data": chunk, "links": links}, {}


def _header(rows: Rows, query: dict[str, str], base_url: str) -> Page:
    page = int(query.get("page", 1))
    chunk = rows[(page - 1) * 10 : page * 10]
    headers: dict[str, str] = {}
    if page * 10 < len(rows):
        headers["Link"] = f'<{base_url}/v1/header/items?page={page + 1}>; rel="next"'
    return chunk, headers


_PAGE_STYLES = {
    "plain": _plain,
    "page": _page,
    "hasmore": _hasmore,
    "totalpages": _totalpages,
    "offset": _offset,
    "cursor": _cursor,
    "link": _link,
    "header": _header,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeAPI


def start(api: FakeAPI | None = None) -> tuple[_Server, FakeAPI]:
    """Serve api on 127.0.0.1:<free port> in a daemon thread; returns (server, api)."""
    api = api or FakeAPI()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = api
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, api
