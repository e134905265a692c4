"""Paginators for the spec's styles, on singer-sdk's BaseAPIPaginator.

A response body is parsed once and its records extracted once (cached on the response), so the
paginator's "short page?" check and the stream's record parsing share the work.
"""

from __future__ import annotations

import decimal
import json
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import BaseAPIPaginator

from glue_rest.spec import Pagination


def body(response: requests.Response) -> Any:
    """The response's JSON, parsed once (decimals kept exact)."""
    cached = getattr(response, "_glue_body", None)
    if cached is None:
        try:
            cached = json.loads(response.content or b"null", parse_float=decimal.Decimal)
        except ValueError:
            snippet = " ".join(response.text[:200].split())
            path = urlsplit(response.url).path
            raise ValueError(
                f"HTTP {response.status_code} response for {path}"
                f" is not JSON (starts with: {snippet!r})"
            ) from None
        response._glue_body = cached  # type: ignore[attr-defined]
    return cached


def records(response: requests.Response, records_path: str) -> list[dict]:
    """The records at records_path, extracted once per response."""
    cached = getattr(response, "_glue_records", None)
    if cached is None:
        cached = list(extract_jsonpath(records_path, body(response)))
        response._glue_records = cached  # type: ignore[attr-defined]
    return cached


def first_match(path: str, response: requests.Response) -> Any:
    return next(iter(extract_jsonpath(path, body(response))), None)


def said_more(spec: Pagination, response: requests.Response) -> bool | None:
    """What the body's has_more flag says, or None without one."""
    if not spec.has_more_path:
        return None
    return bool(first_match(spec.has_more_path, response))


class PagePaginator(BaseAPIPaginator[int]):
    """page=1,2,3...; stops on an empty page, on the body's has_more flag or page count when
    the spec names them, else on a short page when the page size is known."""

    def __init__(self, spec: Pagination, records_path: str) -> None:
        super().__init__(spec.start_page)
        self.spec = spec
        self.size = spec.page_size
        self.records_path = records_path

    def has_more(self, response: requests.Response) -> bool:
        n = len(records(response, self.records_path))
        if n == 0:
            return False
        more = said_more(self.spec, response)
        if more is not None:
            return more
        if self.spec.total_pages_path:
            total = first_match(self.spec.total_pages_path, response)
            pages_read = self._value - self.spec.start_page + 1
            return total is not None and pages_read < int(total)
        return self.size is None or n >= self.size

    def get_next(self, response: requests.Response) -> int | None:
        return self._value + 1

    def advance(self, response: requests.Response) -> None:
        # The SDK treats a 0 token as "finished"; page numbers may start at 0.
        self._page_count += 1
        if not self.has_more(response):
            self._finished = True
            return
        self._value = self._value + 1


class OffsetPaginator(BaseAPIPaginator[int]):
    """offset=0,limit,2*limit...; stops on an empty page, on the body's has_more flag when the
    spec names it, else on a short page."""

    def __init__(self, spec: Pagination, records_path: str) -> None:
        super().__init__(0)
        self.spec = spec
        self.limit = spec.limit
        self.records_path = records_path

    def has_more(self, response: requests.Response) -> bool:
        n = len(records(response, self.records_path))
        more = said_more(self.spec, response)
        if more is not None:
            return n > 0 and more
        return n >= self.limit

    def get_next(self, response: requests.Response) -> int | None:
        return self._value + self.limit


class CursorPaginator(BaseAPIPaginator[Any]):
    """The next cursor from the body; stops when it is missing, null or empty."""

    def __init__(self, spec: Pagination) -> None:
        super().__init__(None)
        self.path = spec.cursor_path or "$.next_cursor"

    def get_next(self, response: requests.Response) -> Any:
        return first_match(self.path, response)


class NextLinkPaginator(BaseAPIPaginator[str | None]):
    """The next page's URL from the body (JSONPath) or the Link header (rel="next")."""

    def __init__(self, spec: Pagination) -> None:
        super().__init__(None)
        self.path = spec.next_link_path

    def get_next(self, response: requests.Response) -> str | None:
        if self.path:
            link = first_match(self.path, response)
        else:
            link = response.links.get("next", {}).get("url")
        if not link:
            return None
        return urljoin(response.url, str(link))


def make_paginator(spec: Pagination, records_path: str) -> BaseAPIPaginator | None:
    if spec.style == "page":
        return PagePaginator(spec, records_path)
    if spec.style == "offset":
        return OffsetPaginator(spec, records_path)
    if spec.style == "cursor":
        return CursorPaginator(spec)
    if spec.style == "next_link":
        return NextLinkPaginator(spec)
    return None
