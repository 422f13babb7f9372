"""Shared response shapes: a cursor page and the RFC 9457 problem document."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProblemFieldError(BaseModel):
    pointer: str = Field(description="JSON pointer to the offending part of the request")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx/5xx body of the API."""

    type: str = Field(default="about:blank", examples=["https://powercat.dev/problems/not_found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(ge=100, le=599, examples=[404])
    detail: str | None = Field(default=None, examples=["item 42 does not exist"])
    code: str = Field(description="stable machine-readable error code", examples=["not_found"])
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str | None = Field(default=None, examples=["sqlite"])
    revision: str | None = Field(default=None, description="migration revision of the database")
