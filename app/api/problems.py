"""RFC 9457 problem details: the one place where errors become HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import errors
from app.schemas.common import Problem

log = logging.getLogger("powercat.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Checked in order: the first class an error is an instance of decides its status.
STATUS_BY_ERROR: tuple[tuple[type[errors.DomainError], int], ...] = (
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


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry whose body is a problem document."""
    return {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}


# Documented on every router, so the OpenAPI document shows the real error body.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: problem_doc(desc)
    for status, desc in {
        422: "The request is invalid (problem+json with `errors`).",
        500: "Unexpected server error (generic problem+json; details only in the log).",
        503: "The database is unreachable or busy; retry after `Retry-After` seconds.",
    }.items()
}


def problem_type(code: str) -> str:
    return f"urn:problem-type:powercat:{code}"


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
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
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
    extra = {k: v for k, v in exc.details.items() if k not in {"errors"}}
    errs = exc.details.get("errors")
    return problem_response(
        status, exc.code, exc.message, errors_=errs, headers=headers, extra=extra or None
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Pydantic's message, never its `input`: bodies do not echo what the client sent.
    errs = [{"pointer": _pointer(tuple(e["loc"])), "message": str(e["msg"])} for e in exc.errors()]
    return problem_response(422, "invalid_input", "the request is not valid", errors_=errs)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).description
    return problem_response(status, code, detail, headers=exc.headers)


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
    app.add_exception_handler(Exception, _unhandled)
