"""One REST endpoint as a singer-sdk RESTStream, driven by its StreamSpec."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext, RESTStream

from glue_rest.auth import OAuth2Auth
from glue_rest.http import check_response, with_retries
from glue_rest.pagination import make_paginator, records
from glue_rest.spec import StreamSpec

if TYPE_CHECKING:
    from glue_rest.tap import TapRest


def format_since(value: Any, fmt: str, stream: str) -> Any:
    """A date-time bookmark in the form the API's since parameter takes (spec.since_format)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigValidationError(
            f"stream '{stream}': since_format {fmt!r} needs a date-time bookmark or start_date, "
            f"got {value!r}; drop since_format to send the value as it is.",
            errors=[f"stream '{stream}': since_format needs a date-time"],
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if fmt == "epoch":
        return int(moment.timestamp())
    if fmt == "epoch_ms":
        return int(moment.timestamp() * 1000)
    return moment.astimezone(UTC).date().isoformat()


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    return r


class RestStream(RESTStream):
    """Records at spec.records_path of each page of base_url + spec.path (GET, or POST)."""

    # Logging request URLs could leak API keys in query strings.
    _LOG_REQUEST_METRIC_URLS = False

    def __init__(self, tap: TapRest, spec: StreamSpec, schema: dict[str, Any]) -> None:
        self.spec = spec
        self._tap_ref = tap
        self._sampling = False
        self._reauthenticated = False
        path = spec.path if spec.path.startswith("/") or not spec.path else f"/{spec.path}"
        super().__init__(tap, name=spec.name, schema=schema, path=path)
        self.primary_keys = list(spec.primary_keys)
        self.replication_key = spec.replication_key
        if spec.parent_keys:
            # bookmarks are kept per parent record (singer-sdk state partitions)
            self.state_partitioning_keys = list(spec.parent_keys)
        if spec.headers:
            self._http_headers.update(spec.headers)
        self.http_method = spec.method
        self.sample: list[dict] | None = None  # the first page, once fetched for inference

    # -- what to request ---------------------------------------------------------------------
    @property
    def url_base(self) -> str:
        return str(self.config["base_url"]).rstrip("/")

    def get_url(self, context: dict | None) -> str:
        """Placeholders filled from parent records are URL-encoded whole (singer-sdk escapes
        only '/', so a key like 'a#1' would end the path)."""
        if context and self.spec.parent_keys:
            context = {
                k: quote(str(v), safe="") if k in self.spec.parent_keys else v
                for k, v in context.items()
            }
        return super().get_url(context)

    @property
    def records_jsonpath(self) -> str:
        return self.spec.records_path

    @property
    def http_headers(self) -> dict:
        return {**self._tap_ref.headers, **self._http_headers}

    @property
    def timeout(self) -> int:
        return int(self.config.get("timeout") or 300)

    @property
    def is_sorted(self) -> bool:
        """Declared by the spec: lets state advance mid-stream (resumable) when true."""
        return self.spec.is_sorted

    @property
    def authenticator(self) -> Callable[[requests.PreparedRequest], requests.PreparedRequest]:
        return self._tap_ref.auth or _no_auth

    def get_new_paginator(self) -> BaseAPIPaginator | None:
        if self._sampling:
            return SinglePagePaginator()
        return make_paginator(self.spec.pagination, self.spec.records_path)

    def since_value(self, context: dict | None) -> Any:
        """The bookmark (or start_date) sent as since_param, or None on a first full run."""
        if self._sampling or not (self.replication_key and self.spec.since_param):
            return None
        value = self.get_starting_replication_key_value(context)
        if value is None or self.spec.since_format is None:
            return value
        return format_since(value, self.spec.since_format, self.name)

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        if self.spec.params_in_body:
            return dict(self.spec.params)
        return {**self.spec.params, **self._paging_values(context, next_page_token)}

    def prepare_request_payload(self, context: dict | None, next_page_token: Any) -> dict | None:
        """The JSON body of a POST: the spec's body, plus the since and paging values when
        params_in_body says so."""
        if self.spec.method != "POST":
            return None
        payload = dict(self.spec.body)
        if self.spec.params_in_body:
            payload.update(self._paging_values(context, next_page_token))
        return payload

    def _paging_values(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        params: dict[str, Any] = {}
        since = self.since_value(context)
        if since is not None:
            params[self.spec.since_param] = since
        pg = self.spec.pagination
        if pg.style == "page":
            params[pg.page_param] = pg.start_page if next_page_token is None else next_page_token
            if pg.page_size_param and pg.page_size:
                params[pg.page_size_param] = pg.page_size
        elif pg.style == "offset":
            params[pg.offset_param] = next_page_token or 0
            params[pg.limit_param] = pg.limit
        elif pg.style == "cursor" and next_page_token is not None:
            params[pg.cursor_param] = next_page_token
        return params

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        request = super().get_http_request(page=page)
        if self.spec.pagination.style == "next_link" and page.next_page_token:
            # The link carries its own query (filters, since, page); use it as given.
            request.url = str(page.next_page_token)
            request.params = {}
        return request

    # -- child streams -----------------------------------------------------------------------
    def get_child_context(self, record: dict, context: dict | None) -> dict | None:
        """The values each child stream's path needs, from one record of this stream."""
        if not self.child_streams:
            return super().get_child_context(record, context)
        child_context: dict[str, Any] = {}
        for child in self.child_streams:
            assert isinstance(child, RestStream)
            if child.selected or child.has_selected_descendents:
                child_context.update(self.context_for(child.spec, record))
        return child_context

    def context_for(self, child: StreamSpec, record: dict) -> dict[str, Any]:
        """The child's parent_keys values from one record of this stream."""
        values = {}
        for name, field_name in child.parent_keys.items():
            if record.get(field_name) is None:
                raise ConfigValidationError(
                    f"stream '{child.name}': parent_keys.{name} is the field '{field_name}' of "
                    f"stream '{self.name}', but a record of it has no value there; fields "
                    f"seen: {sorted(record)[:20]}",
                    errors=[f"stream '{child.name}': parent field '{field_name}' missing"],
                )
            values[name] = record[field_name]
        return values

    # -- responses ---------------------------------------------------------------------------
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        yield from records(response, self.spec.records_path)

    def validate_response(self, response: requests.Response) -> None:
        auth = self._tap_ref.auth
        if (
            response.status_code == HTTPStatus.UNAUTHORIZED
            and isinstance(auth, OAuth2Auth)
            and not self._reauthenticated
        ):
            # The token may have been revoked or expired early: get a new one, try once more.
            self._reauthenticated = True
            auth.invalidate()
            raise RetriableAPIError(
                f"stream '{self.name}': HTTP 401, the access token was refused", response
            )
        check_response(response, self._tap_ref.redactor, f"stream '{self.name}'")
        self._reauthenticated = False

    def request_decorator(self, func: Callable) -> Callable:
        """Retries: 429/5xx/connection errors, Retry-After honoured, max_retries bounded."""
        return with_retries(
            func,
            max_retries=self._tap_ref.max_retries,
            backoff_factor=self._tap_ref.backoff_factor,
            redactor=self._tap_ref.redactor,
            logger=self.logger,
            what=f"stream '{self.name}'",
        )

    def sample_records(self, context: dict | None = None) -> list[dict]:
        """The first page's records (no since filter), for schema inference; kept in sample."""
        if self.sample is not None and context is None:
            return self.sample
        self._sampling = True
        try:
            paginator = SinglePagePaginator()
            prepared = self._prepare_request(context=context, page=paginator)
            response = self.request_decorator(self._request)(prepared, context)
            self.sample = records(response, self.spec.records_path)
            return self.sample
        finally:
            self._sampling = False
