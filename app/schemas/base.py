"""Schema base (no extra fields, no NUL characters) and the shared bounded types."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# What the validators below check, written as JSON Schema patterns so that clients and fuzzers see
# the same rules in the OpenAPI document (the validators give the friendlier messages).
NO_NUL_PATTERN = r"^[^\x00]*$"
# Whitespace, control characters and the zero-width marks the text cleaner removes.
_INVISIBLE = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
VISIBLE_TEXT_PATTERN = rf"^[^\x00]*[^{_INVISIBLE}][^\x00]*$"
_VISIBLE = re.compile(rf"[^{_INVISIBLE}]")


# JSON's \ud800-style escapes can spell a lone surrogate, which no UTF-8 encoder (the database
# driver's, the response's) accepts.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_nul(value: str) -> str:
    # SQLite would store it and PostgreSQL would raise on it: refuse it at the edge.
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if _SURROGATE.search(value):
        raise ValueError("the text is not valid Unicode (a lone surrogate)")
    return value


def _visible(value: str) -> str:
    # Services clean text before storing it; a required field that cleaning would empty is refused.
    if not _VISIBLE.search(value):
        raise ValueError("the text must contain a visible character")
    return value


class Schema(BaseModel):
    """Base of every request body: unknown fields are refused, strings are checked for NUL.

    Strict: values must have the JSON type the document gives (`false` is not 0, `"1"` is not 1).
    """

    model_config = ConfigDict(
        extra="forbid", from_attributes=True, str_strip_whitespace=False, strict=True
    )


NoNulStr = Annotated[
    str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
]
ShortText = Annotated[NoNulStr, Field(min_length=1, max_length=500)]
LongText = Annotated[NoNulStr, Field(max_length=20_000)]
# Required text: at least one visible character (whitespace and zero-width marks do not count).
VisibleShortText = Annotated[
    ShortText, AfterValidator(_visible), Field(json_schema_extra={"pattern": VISIBLE_TEXT_PATTERN})
]
VisibleLongText = Annotated[
    NoNulStr,
    AfterValidator(_visible),
    Field(min_length=1, max_length=20_000, json_schema_extra={"pattern": VISIBLE_TEXT_PATTERN}),
]


def _integral(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; strict validation alone would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer in a request body: 3 or 3.0, never true or "3".
JsonInt = Annotated[int, BeforeValidator(_integral)]
# Bounded integers for `… | None` fields. The bounds come before the validator: after it, pydantic
# writes them into the JSON schema as `ge`/`le`, which JSON Schema does not know, so clients would
# not see them (it does so too for bounds given on such a field's Field()).
PositiveInt32 = Annotated[int, Field(ge=1, le=2_147_483_647), BeforeValidator(_integral)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=2_147_483_647), BeforeValidator(_integral)]

# RFC 3339 date-time with an offset, as `format: date-time` means, in the years 1000–2999. Without
# this, a query value such as `0.5` would pass as a Unix timestamp, `2026-11-25T08:00:00` as a time
# in no zone, and 0001-01-01T00:00:00+00:01 would fail on its way to UTC.
RFC3339_PATTERN = (
    r"^[12][0-9]{3}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(RFC3339_PATTERN, value):
        raise ValueError(
            "use an RFC 3339 date-time with a zone, years 1000–2999, e.g. 2026-11-25T08:00:00Z"
        )
    return value


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+00:01 is valid RFC 3339 but has no UTC equivalent in Python.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time is out of range once converted to UTC") from None


Rfc3339DateTime = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_in_utc),
    Field(json_schema_extra={"pattern": RFC3339_PATTERN}),
]
