"""Shared response shapes: a cursor page and the RFC 9457 problem document."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass `next_cursor` as `cursor` for the next (null: no more)."""

    items: list[T]
    next_cursor: str | None = Field(description="opaque cursor of the next page, null at the end")


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
