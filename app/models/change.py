"""Change log: one row per create, update or withdrawal, numbered for the change feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.enums import ChangeKind
from app.models.base import Base
from app.models.types import UTCDateTime, str_enum, utcnow


class Change(Base):
    __tablename__ = "change"

    # The feed position: monotonic as taken; the feed service deals with commit order.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="RESTRICT"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("item_revision.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ChangeKind] = mapped_column(str_enum(ChangeKind, "kind"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # PostgreSQL transaction id of the writer, so the feed can hold back positions whose
    # transaction may still be open; null on SQLite, where writers are serialised.
    txid: Mapped[int | None] = mapped_column(BigInteger)
