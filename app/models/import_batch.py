"""Import batch: one imported (or dry-run) file, with its checksum, counts and report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.enums import ImportStatus
from app.models.base import Base
from app.models.types import JSONDoc, UTCDateTime, str_enum, utcnow


class ImportBatch(Base):
    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(20))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus, "status"))
    is_dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, int]] = mapped_column(JSONDoc, default=dict)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    actor: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
