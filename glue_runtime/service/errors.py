"""One error shape for every answer of the service that is not a success.

``{"error": {"code": "...", "message": "...", "field": "...", "hint": "..."}}`` (``field`` and
``hint`` only where they apply). Routes raise what the rest of glue_runtime raises (GlueError
subclasses) or :class:`ApiError`; the handlers installed by :func:`install` turn each into its
status and shape, so a client reads one format whatever went wrong.

GlueError to HTTP status (the CLI's exit code for the same error in brackets):

- ConfigError / StoreError naming something unknown ("unknown tenant 'x'", "no job 'x'"): 404
- LinkPaused, "already exists", StateLocked: 409 conflict
- UsageError (2): 400; ConfigError (2): 422; CredentialError (6): 400
- StoreError otherwise (2): 503; StateError (5): 409; any other GlueError: 500
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from glue_runtime.errors import (
    ConfigError,
    CredentialError,
    GlueError,
    StateError,
    StateLocked,
    StoreError,
    UsageError,
)

log = logging.getLogger("glue_runtime.service")

# What a GlueError's message says when the thing it names does not exist (names.unknown,
# records.get, store.link): a 404, never a 422.
_NOT_FOUND = re.compile(r"^(unknown [\w ]+ '|no [\w ]+ '|.* is gone$|.* has no linked )")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer a route chooses itself: status, code, message, and the field at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _STATUS_CODES.get(status, "error")
        self.field = field
        self.hint = hint
        self.headers = headers


def not_found(what: str, name: str) -> ApiError:
    """The 404 for a thing the caller may not see, worded as for one that does not exist."""
    return ApiError(404, f"no {what} '{name}'")


def body(code: str, message: str, field: str | None = None, hint: str | None = None) -> Any:
    """The JSON of an error answer."""
    error: dict[str, str] = {"code": code, "message": message}
    if field:
        error["field"] = field
    if hint:
        error["hint"] = hint
    return {"error": error}


def glue_status(exc: GlueError) -> tuple[int, str]:
    """The HTTP status and error code of a GlueError (see the module's table)."""
    message = exc.message
    if isinstance(exc, (ConfigError, StoreError)) and _NOT_FOUND.match(message):
        return 404, "not_found"
    if isinstance(exc, StateLocked) or "already exists" in message:
        return 409, "conflict"
    if type(exc).__name__ == "LinkPaused":
        return 409, "link_paused"
    if isinstance(exc, UsageError):
        return 400, "bad_request"
    if isinstance(exc, ConfigError):
        return 422, "invalid"
    if isinstance(exc, CredentialError):
        return 400, "credential_error"
    if isinstance(exc, StoreError):
        return 503, "store_error"
    if isinstance(exc, StateError):
        return 409, "state_error"
    return 500, "internal"


def _field(loc: Any) -> str:
    return ".".join(str(part) for part in loc)


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return JSONResponse(body("bad_json", "the body is not valid JSON", "body"), 400)
    field = _field(first.get("loc", ()))
    message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
    answer = body("invalid", message, field or None)
    if len(errors) > 1:
        answer["error"]["errors"] = [
            {"field": _field(e.get("loc", ())), "message": str(e.get("msg"))} for e in errors
        ]
    return JSONResponse(answer, 422)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    headers = getattr(exc, "headers", None)
    return JSONResponse(body(code, str(exc.detail)), exc.status_code, headers=headers)


def _api(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    answer = body(exc.code, exc.message, exc.field, exc.hint)
    return JSONResponse(answer, exc.status, headers=exc.headers)


def _glue(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GlueError)
    status, code = glue_status(exc)
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return JSONResponse(body(code, exc.message, hint=exc.hint), status)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback on the server, a bare 500 to the client."""
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(body("internal", "internal error (see the server's log)"), 500)


def install(app: FastAPI) -> None:
    """Install the handlers that give every error answer of ``app`` the one shape."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(GlueError, _glue)
    app.add_exception_handler(Exception, _unexpected)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs: not_found, ..."},
                "message": {"type": "string", "description": "For people: what went wrong."},
                "field": {"type": "string", "description": "The field at fault: body.sync_type"},
                "hint": {"type": "string", "description": "What to do about it."},
                "errors": {
                    "type": "array",
                    "description": "Every field at fault, when there are several.",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with FastAPI's validation error schema replaced by this shape."""
    schemas = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"] = ERROR_SCHEMA
        schemas.pop("ValidationError", None)
    return schema
