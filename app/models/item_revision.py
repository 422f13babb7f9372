"""Item revision: append-only full snapshot written with every change of an item."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.enums import ChangeKind
from app.models.base import Base
from app.models.types import JSONDoc, UTCDateTime, str_enum, utcnow


class ItemRevision(Base):
    __tablename__ = "item_revision"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ChangeKind] = mapped_column(str_enum(ChangeKind, "kind"))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    # The Item JSON the change feed sends for this revision, agency null (revisions.py
    # stored_document); null for revisions written before migration 0005.
    document: Mapped[str | None] = mapped_column(Text)
    changed_fields: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(1000))
    request_id: Mapped[str | None] = mapped_column(String(100))
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batch.id", ondelete="SET NULL")
    )
