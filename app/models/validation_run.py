"""Validation run and the issues it found; runs are kept to show when an issue came and went."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.enums import Severity
from app.models.base import Base
from app.models.types import JSONDoc, UTCDateTime, str_enum, utcnow


class ValidationRun(Base):
    __tablename__ = "validation_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    counts: Mapped[dict[str, int]] = mapped_column(JSONDoc, default=dict)
    actor: Mapped[str | None] = mapped_column(String(200))


class ValidationIssue(Base):
    __tablename__ = "validation_issue"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("validation_run.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(String(100), index=True)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, "severity"))
    field: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    item_ids: Mapped[list[int]] = mapped_column(JSONDoc, default=list)
    # rule + sorted item ids + value: equal across runs for the same problem.
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
