"""Portable column types: aware UTC datetimes and JSON that is JSONB on PostgreSQL."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Enum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite hands back naive values, so UTC is re-attached."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _reject_non_finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not valid JSON")
    if isinstance(value, dict):
        for v in value.values():
            _reject_non_finite(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _reject_non_finite(v)
    return value


class JSONDoc(TypeDecorator[Any]):
    """JSON document column; JSONB on PostgreSQL. Refuses NaN/Infinity, which JSONB cannot hold."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:  # noqa: ARG002
        return _reject_non_finite(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, no ASCII escaping) for hashing and comparisons."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def str_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a named CHECK, never a native enum type."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        name=name,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )
