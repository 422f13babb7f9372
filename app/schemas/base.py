"""Schema base (no extra fields, no NUL characters) and the shared bounded types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _no_nul(value: str) -> str:
    # SQLite would store it and PostgreSQL would raise on it: refuse it at the edge.
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


class Schema(BaseModel):
    """Base of every contract model: unknown fields are refused, strings are checked for NUL."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, str_strip_whitespace=False)


NoNulStr = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[NoNulStr, Field(min_length=1, max_length=500)]
LongText = Annotated[NoNulStr, Field(max_length=20_000)]
PositiveInt32 = Annotated[int, Field(ge=1, le=2_147_483_647)]
