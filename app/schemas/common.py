"""Shared response shapes: a cursor page and the RFC 9457 problem document."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass `next_cursor` as `cursor` for the next (null: no more)."""

    items: list[T]
    next_cursor: str | None = Field(description="opaque cursor of the next page, null at the end")


class ProblemFieldError(BaseModel):
    pointer: str = Field(description="JSON pointer to the offending part of the request")
    message: str


PROBLEM_EXAMPLES: list[JsonValue] = [
    {
        "type": "urn:problem-type:powercat:item.not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "item 999999 does not exist",
        "code": "item.not_found",
    },
    {
        "type": "urn:problem-type:powercat:item.version_mismatch",
        "title": "Precondition Failed",
        "status": 412,
        "detail": "the item is at version 2, not 1",
        "code": "item.version_mismatch",
        "current_etag": '"2"',
    },
    {
        "type": "urn:problem-type:powercat:invalid_input",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "the request is not valid",
        "code": "invalid_input",
        "errors": [{"pointer": "/body/name", "message": "Field required"}],
    },
]


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx/5xx body of the API.

    Some problems add members: `candidates` (409 ambiguous code), `current_etag` (412), `counts`.
    """

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": PROBLEM_EXAMPLES})

    type: str = Field(
        default="about:blank",
        description="urn:problem-type:powercat:<code>",
        examples=["urn:problem-type:powercat:item.not_found"],
    )
    title: str = Field(description="the status phrase", examples=["Not Found"])
    status: int = Field(ge=100, le=599, examples=[404])
    detail: str | None = Field(default=None, examples=["item 999999 does not exist"])
    code: str = Field(description="stable machine-readable error code", examples=["item.not_found"])
    instance: str | None = None
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="validation failures: where, and what is wrong"
    )


class Health(BaseModel):
    """Liveness or readiness; readiness names the database and its migration revision."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "database": "sqlite", "revision": "0002"}]}
    )

    status: str = Field(examples=["ok"])
    database: str | None = Field(default=None, examples=["sqlite"])
    revision: str | None = Field(
        default=None, description="migration revision of the database", examples=["0002"]
    )
