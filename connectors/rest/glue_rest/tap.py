"""tap-rest: a generic REST API tap; each entry of `streams` in the config is one stream."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from requests.auth import AuthBase
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import _ConfigInput

from glue_rest.auth import build_auth
from glue_rest.http import Redactor
from glue_rest.schema import ANY_TYPE, infer_schema
from glue_rest.spec import STYLES, StreamSpec, check_auth, parse_streams
from glue_rest.streams import RestStream

#: Query parameter names masked in every URL we log or put in an error.
SECRET_PARAM_NAMES = (
    "access_token",
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "client_secret",
    "password",
    "secret",
    "signature",
    "sig",
    "refresh_token",
)


class _ConfigFromFiles(dict):
    """The merged config dict, remembering the file it came from (for token write-back)."""

    source_path: Path | None = None


_PAGINATION = th.ObjectType(
    # No allowed_values: the tap's own check names the stream and lists the styles.
    th.Property("style", th.StringType, description=f"One of: {', '.join(STYLES)}."),
    th.Property("page_param", th.StringType, description="page: page number parameter."),
    th.Property("page_size_param", th.StringType, description="page: page size parameter."),
    th.Property("page_size", th.IntegerType, description="page: records per page."),
    th.Property("start_page", th.IntegerType, description="page: first page number (1)."),
    th.Property("offset_param", th.StringType, description="offset: offset parameter."),
    th.Property("limit_param", th.StringType, description="offset: limit parameter."),
    th.Property("limit", th.IntegerType, description="offset: records per request (100)."),
    th.Property("cursor_path", th.StringType, description="cursor: JSONPath to next cursor."),
    th.Property("cursor_param", th.StringType, description="cursor: parameter taking it."),
    th.Property(
        "next_link_path",
        th.StringType,
        description="next_link: JSONPath to the next URL; the Link header when absent.",
    ),
)

_STREAM = th.ObjectType(
    th.Property("name", th.StringType, required=True, description="Stream name."),
    th.Property("path", th.StringType, required=True, description="URL path under base_url."),
    th.Property("records_path", th.StringType, description='JSONPath to records ("$[*]").'),
    th.Property("primary_keys", th.ArrayType(th.StringType), description="Key properties."),
    th.Property("replication_key", th.StringType, description="Incremental by this field."),
    th.Property("since_param", th.StringType, description="Query param taking the bookmark."),
    th.Property("is_sorted", th.BooleanType, description="Records come sorted by the key."),
    th.Property(
        "schema",
        th.ObjectType(additional_properties=True),
        description="JSON schema of a record; inferred from the first page when absent.",
    ),
    th.Property(
        "params", th.ObjectType(additional_properties=True), description="Extra query params."
    ),
    th.Property("headers", th.ObjectType(additional_properties=True), description="Headers."),
    th.Property("pagination", _PAGINATION, description="How to get the next page."),
)

_AUTH = th.ObjectType(
    th.Property(
        "type",
        th.StringType,
        required=True,
        allowed_values=["api_key", "basic", "oauth2_client_credentials", "oauth2_refresh_token"],
    ),
    th.Property("header", th.StringType, description="api_key: header name."),
    th.Property("query", th.StringType, description="api_key: query parameter name."),
    th.Property("value", th.StringType, secret=True, description="api_key: the key."),
    th.Property("username", th.StringType, description="basic: user name."),
    th.Property("password", th.StringType, secret=True, description="basic: password."),
    th.Property("token_url", th.StringType, description="oauth2: token endpoint URL."),
    th.Property("client_id", th.StringType, description="oauth2: client id."),
    th.Property("client_secret", th.StringType, secret=True, description="oauth2: secret."),
    th.Property("refresh_token", th.StringType, secret=True, description="oauth2: token."),
    th.Property("scope", th.StringType, description="oauth2: scope(s), space separated."),
    th.Property(
        "client_auth",
        th.StringType,
        allowed_values=["body", "basic"],
        description="oauth2: send client id/secret in the form body (default) or basic auth.",
    ),
)


class TapRest(Tap):
    """Streams from a REST API, described by the `streams` setting."""

    name = "tap-rest"
    package_name = "glue-connector-rest"

    config_jsonschema = th.PropertiesList(
        th.Property("base_url", th.StringType, required=True, description="API root URL."),
        th.Property("streams", th.ArrayType(_STREAM), required=True, description="Endpoints."),
        th.Property("auth", _AUTH, description="How to authenticate."),
        th.Property(
            "headers", th.ObjectType(additional_properties=True), description="Sent on all calls."
        ),
        th.Property("start_date", th.DateTimeType, description="Since value with no bookmark."),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=5,
            description="Retries after a 429, 5xx or connection error (then the run fails).",
        ),
        th.Property(
            "backoff_factor",
            th.NumberType,
            default=1.0,
            description="Wait factor * 2**n seconds between retries (unless Retry-After).",
        ),
        th.Property("timeout", th.IntegerType, default=300, description="Request timeout (s)."),
        th.Property("user_agent", th.StringType, description="User-Agent header."),
    ).to_dict()

    def __init__(self, *args: Any, config_path: str | Path | None = None, **kwargs: Any) -> None:
        config = kwargs.get("config")
        if config_path is None:
            config_path = getattr(config, "source_path", None)
        self.config_path = Path(config_path) if config_path else None
        super().__init__(*args, **kwargs)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """singer-sdk's schema check, then the spec's own rules (styles, JSONPaths, auth)."""
        warnings = super()._validate_config(raise_errors=raise_errors)
        if raise_errors:
            _ = self.specs
            check_auth(self.config.get("auth"))
        return warnings

    @cached_property
    def specs(self) -> list[StreamSpec]:
        return parse_streams(self.config.get("streams"))

    # -- CLI: remember which file --config named, so a rotated token can be written back -----
    @classmethod
    def cb_config(
        cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
    ) -> _ConfigInput:
        parsed = super().cb_config(ctx, param, value)
        files = [v for v in value if v != "ENV"]
        config = _ConfigFromFiles(parsed.config)
        if files:
            with_auth = [f for f in files if "auth" in json.loads(Path(f).read_text())]
            config.source_path = Path((with_auth or files)[-1])
        parsed.config = config
        return parsed

    # -- shared HTTP pieces ------------------------------------------------------------------
    @cached_property
    def redactor(self) -> Redactor:
        auth = self.config.get("auth") or {}
        secrets = [auth.get(k) for k in ("value", "password", "client_secret", "refresh_token")]
        params = list(SECRET_PARAM_NAMES)
        if auth.get("type") == "api_key" and auth.get("query"):
            params.append(auth["query"])
        return Redactor([s for s in secrets if isinstance(s, str)], params)

    @cached_property
    def auth(self) -> AuthBase | None:
        return build_auth(
            self.config.get("auth"),
            redactor=self.redactor,
            logger=self.logger,
            max_retries=self.max_retries,
            backoff_factor=self.backoff_factor,
            timeout=float(self.config.get("timeout") or 300),
            config_path=self.config_path,
        )

    @property
    def max_retries(self) -> int:
        value = self.config.get("max_retries")
        return 5 if value is None else max(0, int(value))

    @property
    def backoff_factor(self) -> float:
        value = self.config.get("backoff_factor")
        return 1.0 if value is None else max(0.0, float(value))

    @cached_property
    def headers(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.config.get("headers") or {}).items()}

    # -- streams -----------------------------------------------------------------------------
    def _catalog_schema(self, name: str) -> dict[str, Any] | None:
        """The schema from --catalog, so a sync does not re-infer (and re-request) it."""
        catalog = self.input_catalog
        entry = catalog.get_stream(name) if catalog is not None else None
        if entry is None or entry.schema is None:
            return None
        schema = entry.schema.to_dict()
        return schema if schema.get("properties") else None

    def _inferred(self, stream: RestStream, parent: RestStream | None) -> dict[str, Any]:
        spec = stream.spec
        if parent is None:
            sample = stream.sample_records()
        else:
            # a child's first page, for the parent's first record
            parent_sample = parent.sample_records()
            context = parent.context_for(spec, parent_sample[0]) if parent_sample else None
            sample = stream.sample_records(context) if context else []
        if not sample:
            self.logger.warning(
                "Stream '%s': the first page had no records at %s, so its schema holds only "
                "its key fields; give `schema` in the stream spec to declare the others.",
                spec.name,
                spec.records_path,
            )
            keys = [*spec.primary_keys, *([spec.replication_key] if spec.replication_key else [])]
            return {"type": "object", "properties": {k: {"type": list(ANY_TYPE)} for k in keys}}
        schema = infer_schema(sample)
        props = schema["properties"]
        for key in [*spec.primary_keys, *([spec.replication_key] if spec.replication_key else [])]:
            if key not in props:
                raise ConfigValidationError(
                    f"Stream '{spec.name}': '{key}' (a primary or replication key) is not in its "
                    f"records; fields seen: {sorted(props)[:20]}.",
                    errors=[f"stream '{spec.name}': unknown key field '{key}'"],
                )
        return schema

    def discover_streams(self) -> list[RestStream]:
        # singer-sdk links a child to its parent by class, so each stream gets a class of its
        # own; parents are built first, as a child's inference needs its parent's records.
        classes: dict[str, type[RestStream]] = {}
        built: dict[str, RestStream] = {}
        by_name = {spec.name: spec for spec in self.specs}

        def build(spec: StreamSpec) -> RestStream:
            if spec.name in built:
                return built[spec.name]
            parent = build(by_name[spec.parent]) if spec.parent else None
            cls = classes[spec.name] = type(
                f"RestStream_{len(classes)}",
                (RestStream,),
                {
                    "parent_stream_type": classes[spec.parent] if spec.parent else None,
                    # read every parent record, not only those changed since its bookmark:
                    # an unchanged parent may have new children
                    "ignore_parent_replication_key": spec.parent is not None,
                },
            )
            schema = spec.schema or self._catalog_schema(spec.name)
            stream = cls(self, spec, schema or {"type": "object", "properties": {}})
            built[spec.name] = stream
            if schema is None:
                stream._schema = self._inferred(stream, parent)
            return stream

        return [build(spec) for spec in self.specs]
