"""RFC 9457 problem details: the one place where errors become HTTP statuses."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app import errors
from app.schemas.common import Problem

log = logging.getLogger("powercat.api")

# An API key (see app.services.keys.TOKEN_PREFIX) wherever it might end up in a log line.
_TOKEN = re.compile(r"pck_[A-Za-z0-9_-]{6,}")
_REDACTED = "pck_[redacted]"


class RedactKeys(logging.Filter):
    """Blanks API keys in a record's message and traceback before any handler formats it.

    Nothing logs the Authorization header on purpose; this covers an exception whose message
    quotes it (a traceback is logged whole).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN.search(message):
            record.msg, record.args = _TOKEN.sub(_REDACTED, message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _TOKEN.sub(_REDACTED, record.exc_text)
        return True


log.addFilter(RedactKeys())

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Checked in order: the first class an error is an instance of decides its status.
STATUS_BY_ERROR: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.UnauthorizedError, 401),
    (errors.ForbiddenError, 403),
    (errors.NotFoundError, 404),
    (errors.VersionMismatchError, 412),
    (errors.ConflictError, 409),
    (errors.PayloadTooLargeError, 413),
    (errors.PreconditionRequiredError, 428),
    (errors.InvalidCursorError, 400),
    (errors.InvalidInputError, 422),
    (errors.DatabaseUnavailableError, 503),
)

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/Problem"}


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry whose body is a problem document.

    `model` puts Problem in the components (FastAPI files it under application/json too); the
    schema under application/problem+json is what clients and contract tests check the body with.
    """
    return {
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA_REF}},
        "description": description,
    }


# Documented on every router, so the OpenAPI document shows the real error body.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: problem_doc(desc)
    for status, desc in {
        400: "The URL is not UTF-8 text or holds a NUL character, a cursor is not valid, or the "
        "request is not valid HTTP (e.g. raw non-ASCII bytes in the URL).",
        401: "No valid API key: writes need one, reads too when POWERCAT_PUBLIC_READ is off.",
        422: "The request is invalid (problem+json with `errors`).",
        429: "Too many requests from this key or address; retry after `Retry-After` seconds.",
        500: "Unexpected server error (generic problem+json; details only in the log).",
        503: "The database is unreachable or busy, or the request took too long; retry after "
        "`Retry-After` seconds.",
    }.items()
}


# Operations that change data: the key may lack the scope or the agency; bodies have a size limit.
WRITE_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    403: problem_doc("The API key may not do this (read-only key, or another agency's items)."),
    413: problem_doc("The body is over the size limit (POWERCAT_MAX_BODY_BYTES)."),
    415: problem_doc("A JSON body was sent with another Content-Type (e.g. a form's)."),
}


def problem_type(code: str) -> str:
    return f"urn:problem-type:powercat:{code}"


def problem_document(status: int, code: str, detail: str | None) -> dict[str, Any]:
    """The members every problem has; the one shape the app, its edge and the HTTP parser's
    own refusals (app/api/wire.py) answer with."""
    return {
        "type": problem_type(code),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    errors_: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Render a problem document; `extra` adds members such as `candidates`."""
    body = problem_document(status, code, detail)
    if errors_ is not None:
        body["errors"] = errors_
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def status_for(exc: errors.DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def _pointer(loc: tuple[int | str, ...]) -> str:
    # FastAPI prefixes the location with "body", "query", "path" or "header".
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in loc]
    return "/" + "/".join(parts)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers = {"Retry-After": "1"} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="powercat"'}
    extra = {k: v for k, v in exc.details.items() if k not in {"errors"}}
    errs = exc.details.get("errors")
    return problem_response(
        status, exc.code, exc.message, errors_=errs, headers=headers, extra=extra or None
    )


# Headers that make a write conditional. Documented as required; when one is missing the answer is
# 428 (RFC 6585), not a validation failure.
PRECONDITION_HEADERS = frozenset({("header", "if-match")})
IF_MATCH_REQUIRED = 'this write needs an If-Match header with the item\'s ETag, e.g. If-Match: "3"'


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    if found and all(
        e["type"] == "missing" and tuple(e["loc"]) in PRECONDITION_HEADERS for e in found
    ):
        return await _domain_error(request, errors.PreconditionRequiredError(IF_MATCH_REQUIRED))
    if any(len(e["loc"]) > 1 and (e["loc"][0], e["loc"][1]) in CURSOR_PARAMETERS for e in found):
        # A cursor is opaque: one that is too long or has stray characters is as invalid as one
        # that fails its signature, and gets the same answer.
        return await _domain_error(request, errors.InvalidCursorError(CURSOR_INVALID))
    if any(tuple(e["loc"]) == ("body",) for e in found) and not _json_content(request):
        # A body sent as a form (curl -d without -H) or with no Content-Type is not read as
        # JSON at all: say so, rather than that the body "should be a valid dictionary".
        return problem_response(
            415,
            "unsupported_media_type",
            "send the body as JSON, with Content-Type: application/json",
        )
    # Pydantic's message, never its `input`: bodies do not echo what the client sent.
    errs: list[dict[str, str]] = []
    seen: set[str] = set()
    for e in found:
        pointer = _pointer(_input_location(e, getattr(exc, "body", None)))
        if pointer not in seen:  # a union reports once per member; the first says most
            seen.add(pointer)
            message = str(e["msg"])
            if "Expected UploadFile" in message:  # FastAPI's words, with a Python class in them
                message = FILE_PART_EXPECTED
            errs.append({"pointer": pointer, "message": message})
    return problem_response(422, "invalid_input", "the request is not valid", errors_=errs)


def _json_content(request: Request) -> bool:
    """Whether the request declares its body JSON. A body without a Content-Type is not read as
    JSON either (FastAPI's strict_content_type)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return False
    media_type = declared.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


FILE_PART_EXPECTED = "send a file here: a multipart part with a filename (curl -F 'file=@list.tsv')"


# Query parameters holding a signed pagination cursor.
CURSOR_PARAMETERS = frozenset({("query", "cursor"), ("query", "after")})
CURSOR_INVALID = "the cursor is not one this service issued; start the listing again"


def _input_location(error: Mapping[str, Any], body: Any) -> tuple[int | str, ...]:
    """Where in the request an error is, without pydantic's own names in it.

    Pydantic puts the union member that failed into `loc` (`function-after[_no_nul(), str]`,
    `none`, …): internal names, memory addresses included. A body location keeps only the keys
    and indexes the body really has (and a missing field's name); other locations keep the
    parameter's name. A body that is not JSON at all is `/body`, not the character offset.
    """
    loc = tuple(error["loc"])
    if not loc:
        return loc
    if loc[0] != "body":
        return loc[:2]
    if error.get("type") == "json_invalid":
        return loc[:1]
    kept: list[int | str] = [loc[0]]
    node = body
    for i, part in enumerate(loc[1:], start=1):
        last = i == len(loc) - 1
        in_map = isinstance(node, Mapping) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            node = node[part]
        elif not (last and isinstance(node, Mapping) and error.get("type") == "missing"):
            continue  # a union member's name, not a place in the body
        if isinstance(part, str) and not FIELD_NAME.match(part):
            break  # a key the client made up is not echoed: point at the object holding it
        kept.append(part)
    return tuple(kept)


# What our schemas' field names look like; other keys (made up by a client) are never echoed.
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$", re.ASCII)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# FastAPI's detail when a body cannot be decoded at all (JSON syntax errors arrive as validation).
_BODY_PARSE_FAILED = "There was an error parsing the body"


def _allowed_methods(request: Request) -> str | None:
    """Every method the requested path answers to.

    FastAPI makes one route per method, and Starlette's 405 names only the methods of the first
    route whose path matches; RFC 9110 wants all of them in `Allow`, so ask the router for each.
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")  # the edge answers HEAD wherever GET is, and only there
    return ", ".join(allowed) or None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).description
    if status == 400 and detail == _BODY_PARSE_FAILED:
        # A body that is not UTF-8 JSON is invalid input like any other: 422 with a pointer.
        return problem_response(
            422,
            "invalid_input",
            "the request is not valid",
            errors_=[
                {
                    "pointer": "/body",
                    "message": "the body cannot be read as JSON: it is not UTF-8, or it is "
                    "nested too deeply",
                }
            ],
        )
    headers = dict(exc.headers or {})
    if status == 405 and (allow := _allowed_methods(request)):
        headers["Allow"] = allow
    return problem_response(status, code, detail, headers=headers or None)


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity error: %s", exc.__class__.__name__)
    return problem_response(409, "conflict", "the change conflicts with stored data")


def _is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, PoolTimeoutError | ConnectionError | OSError):
        return True
    if isinstance(exc, OperationalError):
        return True  # SQLite "database is locked", PostgreSQL connection loss
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    if _is_unavailable(exc):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return problem_response(
            503,
            "database.unavailable",
            "the database is unavailable or busy; retry shortly",
            headers={"Retry-After": "1"},
        )
    return await _unhandled(_request, exc)


async def _unhandled(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return problem_response(500, "internal_error", "an unexpected error occurred")


def install(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(ConnectionError, _database_error)
    # A connection attempt the database accepted and never answered: the driver's connect
    # timeout. (The request's own time limit is the edge's, outside these handlers.)
    app.add_exception_handler(TimeoutError, _database_error)
    app.add_exception_handler(Exception, _unhandled)
