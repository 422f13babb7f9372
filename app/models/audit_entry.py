"""Audit entry: who changed what, when and why; written in the transaction of the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.types import JSONDoc, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="RESTRICT"))
    actor: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(1000))
    change: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
