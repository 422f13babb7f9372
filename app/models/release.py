"""Release: an immutable, named snapshot of which revision of each item was published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.types import UTCDateTime, utcnow


class Release(Base):
    __tablename__ = "release"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the release was made despite error-severity validation issues.
    is_forced: Mapped[bool] = mapped_column(Boolean, default=False)
    force_reason: Mapped[str | None] = mapped_column(String(1000))


class ReleaseItem(Base):
    __tablename__ = "release_item"

    release_id: Mapped[int] = mapped_column(
        ForeignKey("release.id", ondelete="RESTRICT"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("item.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    revision_id: Mapped[int] = mapped_column(ForeignKey("item_revision.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
