"""The stream spec in the tap's config, checked once so a typo fails before any request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.jsonpath import _compile_jsonpath

STYLES = ("none", "page", "offset", "cursor", "next_link")
SINCE_FORMATS = ("epoch", "epoch_ms", "date")
AUTH_TYPES = ("api_key", "basic", "oauth2_client_credentials", "oauth2_refresh_token")


def _fail(message: str) -> ConfigValidationError:
    return ConfigValidationError(message, errors=[message])


@dataclass(frozen=True)
class Pagination:
    """How to ask for the next page: one of STYLES and the names the API uses."""

    style: str = "none"
    page_param: str = "page"
    page_size_param: str | None = None
    page_size: int | None = None
    start_page: int = 1
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    cursor_path: str | None = None
    cursor_param: str = "cursor"
    next_link_path: str | None = None
    has_more_path: str | None = None  # page/offset: a boolean in the body, true while more
    total_pages_path: str | None = None  # page: the number of pages, in the body


@dataclass(frozen=True)
class StreamSpec:
    """One endpoint -> one stream."""

    name: str
    path: str
    records_path: str = "$[*]"
    primary_keys: tuple[str, ...] = ()
    replication_key: str | None = None
    since_param: str | None = None
    since_format: str | None = None  # None: as bookmarked; or one of SINCE_FORMATS
    schema: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    is_sorted: bool = False
    pagination: Pagination = field(default_factory=Pagination)
    #: a child stream: requested once per record of `parent`, with `{name}` placeholders in
    #: its path filled from that record (parent_keys: placeholder name -> parent field).
    parent: str | None = None
    parent_keys: dict[str, str] = field(default_factory=dict)
    method: str = "GET"  # or POST (search endpoints), with `body` as its JSON body
    body: dict[str, Any] = field(default_factory=dict)
    #: the since and paging values go into the JSON body instead of the query
    params_in_body: bool = False


def _jsonpath(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("$"):
        raise _fail(f"{where} must be a JSONPath starting with '$' (e.g. \"$.data[*]\").")
    try:
        _compile_jsonpath(value)
    except Exception as exc:  # jsonpath_ng raises several types for bad syntax
        raise _fail(f"{where} is not a valid JSONPath ({value!r}): {exc}") from None
    return value


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(f"{where} must be a positive integer, got {value!r}.")
    return value


def parse_pagination(raw: Any, where: str) -> Pagination:
    """Build a Pagination, naming the stream and key of anything missing or unknown."""
    if raw is None:
        return Pagination()
    if not isinstance(raw, dict):
        raise _fail(f'{where} must be an object like {{"style": "page"}}.')
    style = raw.get("style", "none")
    if style not in STYLES:
        raise _fail(f"{where}.style is {style!r}; use one of: {', '.join(STYLES)}.")
    known = set(Pagination.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(f"{where} has unknown keys {unknown}; known keys: {sorted(known)}.")
    values = dict(raw)
    _check_page_numbers(values, where)
    _check_page_paths(values, style, where)
    return Pagination(**values)


def _check_page_numbers(values: dict[str, Any], where: str) -> None:
    for key in ("page_size", "limit"):
        if values.get(key) is not None:
            _positive_int(values[key], f"{where}.{key}")
    if "start_page" in values:
        start = values["start_page"]
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise _fail(f"{where}.start_page must be an integer >= 0, got {start!r}.")


def _check_page_paths(values: dict[str, Any], style: str, where: str) -> None:
    """The JSONPaths a style reads its next page from, and only where the style uses them."""
    if style == "cursor":
        if not values.get("cursor_path"):
            raise _fail(f"{where}: style 'cursor' needs cursor_path (JSONPath to the next cursor).")
        _jsonpath(values["cursor_path"], f"{where}.cursor_path")
    if values.get("next_link_path"):
        _jsonpath(values["next_link_path"], f"{where}.next_link_path")
    for key, styles in (("has_more_path", ("page", "offset")), ("total_pages_path", ("page",))):
        if values.get(key):
            if style not in styles:
                raise _fail(f"{where}.{key} works with style {' or '.join(styles)}, not {style!r}.")
            _jsonpath(values[key], f"{where}.{key}")


def parse_streams(raw: Any) -> list[StreamSpec]:
    """Check and convert the `streams` setting."""
    if not isinstance(raw, list) or not raw:
        raise _fail("`streams` must be a non-empty list of {name, path, ...} objects.")
    seen: set[str] = set()
    specs = [_parse_stream(item, f"streams[{i}]", seen) for i, item in enumerate(raw)]
    _check_parents(specs)
    return specs


def _stream_name(item: Any, where: str, seen: set[str]) -> str:
    """The stream's name, new among the names in ``seen`` (and added to them)."""
    if not isinstance(item, dict):
        raise _fail(f"{where} must be an object with at least `name` and `path`.")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(f"{where} needs a `name`.")
    if name in seen:
        raise _fail(f"stream '{name}' is declared twice; stream names must be unique.")
    seen.add(name)
    return name


def _parse_stream(item: Any, where: str, seen: set[str]) -> StreamSpec:
    """One item of `streams` (``where`` names it by position until its name is known)."""
    name = _stream_name(item, where, seen)
    where = f"stream '{name}'"
    path = item.get("path")
    if not isinstance(path, str):
        raise _fail(f'{where} needs a `path` (e.g. "/items").')
    keys = item.get("primary_keys") or []
    if isinstance(keys, str):
        keys = [keys]
    schema = item.get("schema")
    if schema is not None and not (isinstance(schema, dict) and "properties" in schema):
        raise _fail(f"{where}: `schema` must be a JSON schema object with `properties`.")
    rkey = item.get("replication_key")
    if rkey and schema is not None and rkey not in schema["properties"]:
        raise _fail(f"{where}: replication_key '{rkey}' is not a property of its schema.")
    params = _object_of(item, "params", f"{where}: `params` must be an object of query parameters.")
    headers = _object_of(
        item, "headers", f"{where}: `headers` must be an object of header names to values."
    )
    since_format = _since_format(item, rkey, where)
    parent, parent_keys = _parent_of(item, where)
    method, body = _request_method(item, where)
    return StreamSpec(
        name=name,
        path=path,
        records_path=_jsonpath(item.get("records_path") or "$[*]", f"{where}.records_path"),
        primary_keys=tuple(keys),
        replication_key=rkey or None,
        since_param=item.get("since_param") or None,
        since_format=since_format,
        schema=schema,
        params=dict(params),
        headers={str(k): str(v) for k, v in headers.items()},
        is_sorted=bool(item.get("is_sorted", False)),
        pagination=parse_pagination(item.get("pagination"), f"{where}.pagination"),
        parent=parent,
        parent_keys=parent_keys,
        method=method,
        body=dict(body),
        params_in_body=bool(item.get("params_in_body", False)),
    )


def _object_of(item: dict[str, Any], key: str, error: str) -> dict[str, Any]:
    """``item[key]``, an object ({} when missing or empty); ``error`` when it is not one."""
    value = item.get(key) or {}
    if not isinstance(value, dict):
        raise _fail(error)
    return value


def _since_format(item: dict[str, Any], rkey: Any, where: str) -> str | None:
    """The since_format setting, checked with the since_param it formats."""
    if item.get("since_param") and not rkey:
        raise _fail(f"{where}: since_param needs a replication_key to take its value from.")
    since_format = item.get("since_format")
    if since_format is not None and since_format not in SINCE_FORMATS:
        raise _fail(
            f"{where}: since_format is {since_format!r}; use one of "
            f"{', '.join(SINCE_FORMATS)} (or leave it out to send the bookmark as it is)."
        )
    if since_format and not item.get("since_param"):
        raise _fail(f"{where}: since_format needs a since_param to send the value in.")
    return since_format


def _request_method(item: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """The HTTP method and the JSON body it sends (POST only)."""
    method = str(item.get("method") or "GET").upper()
    if method not in ("GET", "POST"):
        raise _fail(f"{where}: method is {item.get('method')!r}; use GET or POST.")
    body = _object_of(
        item, "body", f"{where}: `body` must be a JSON object (sent as the request body)."
    )
    if (body or item.get("params_in_body")) and method != "POST":
        raise _fail(f"{where}: `body` and params_in_body need method POST.")
    if item.get("params_in_body") and pagination_style(item) == "next_link":
        raise _fail(f"{where}: params_in_body does not apply to next_link pagination.")
    return method, body


def pagination_style(item: dict[str, Any]) -> str:
    raw = item.get("pagination")
    return raw.get("style", "none") if isinstance(raw, dict) else "none"


def _parent_of(item: dict[str, Any], where: str) -> tuple[str | None, dict[str, str]]:
    """The `parent` and `parent_keys` of a child stream.

    Placeholders in a path that parent_keys does not name are left to singer-sdk, which fills
    them from the config (``/accounts/{account_id}/orders`` with ``account_id`` set there).
    """
    parent = item.get("parent")
    keys = item.get("parent_keys") or {}
    if parent is None:
        if keys:
            raise _fail(f"{where}: parent_keys needs a `parent` stream to take values from.")
        return None, {}
    if not isinstance(parent, str) or not parent:
        raise _fail(f"{where}: `parent` must be the name of another stream.")
    if (
        not isinstance(keys, dict)
        or not keys
        or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in keys.items())
    ):
        raise _fail(
            f"{where}: a child stream needs parent_keys, an object of path placeholder -> "
            'parent record field, e.g. {"customer_id": "id"} for /customers/{customer_id}/orders.'
        )
    return parent, dict(keys)


def _check_parents(specs: list[StreamSpec]) -> None:
    by_name = {s.name: s for s in specs}
    fields: dict[tuple[str, str], tuple[str, str]] = {}  # (parent, name) -> (field, child)
    for spec in specs:
        for name, field_name in spec.parent_keys.items():
            seen = fields.setdefault((str(spec.parent), name), (field_name, spec.name))
            if seen[0] != field_name:
                raise _fail(
                    f"stream '{spec.name}': parent_keys.{name} reads '{field_name}' but stream "
                    f"'{seen[1]}' reads '{seen[0]}' for the same name under parent "
                    f"'{spec.parent}'; give one of them another placeholder name."
                )
    for spec in specs:
        seen = [spec.name]
        current = spec
        while current.parent is not None:
            if current.parent not in by_name:
                raise _fail(
                    f"stream '{current.name}': parent '{current.parent}' is not a declared "
                    f"stream; streams: {', '.join(sorted(by_name))}."
                )
            if current.parent in seen:
                chain = " -> ".join([*seen, current.parent])
                raise _fail(f"stream '{spec.name}': its parents form a loop ({chain}).")
            seen.append(current.parent)
            current = by_name[current.parent]


def check_auth(auth: Any) -> dict[str, Any] | None:
    """Check the `auth` setting has what its type needs (names only, never values)."""
    if not auth:
        return None
    if not isinstance(auth, dict):
        raise _fail("`auth` must be an object with a `type`.")
    kind = auth.get("type")
    if kind not in AUTH_TYPES:
        raise _fail(f"auth.type is {kind!r}; use one of: {', '.join(AUTH_TYPES)}.")
    needs = {
        "api_key": ("value",),
        "basic": ("username", "password"),
        "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
        "oauth2_refresh_token": ("token_url", "client_id", "refresh_token"),
    }[kind]
    missing = [k for k in needs if not auth.get(k)]
    if missing:
        raise _fail(f"auth type '{kind}' needs {', '.join('auth.' + k for k in missing)}.")
    if kind == "api_key" and bool(auth.get("header")) == bool(auth.get("query")):
        raise _fail(
            "auth type 'api_key' needs exactly one of auth.header (a header name) "
            "or auth.query (a query parameter name)."
        )
    return auth
