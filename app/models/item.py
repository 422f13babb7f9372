"""Item (权力事项): the current state of one catalogue item; `version` guards every write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.enums import ItemStatus
from app.models.base import Base, TimestampMixin
from app.models.types import JSONDoc, str_enum


class Item(TimestampMixin, Base):
    __tablename__ = "item"
    __table_args__ = (
        # Not unique: published lists hold duplicate codes, which are stored and flagged.
        Index("ix_item_local_code_sub_local_code", "local_code", "sub_local_code"),
        Index("ix_item_agency_id_seq", "agency_id", "seq"),
        Index("ix_item_updated_at_id", "updated_at", "id"),
        # One status's items in id order, the listing's: the rare status is not a full scan.
        Index("ix_item_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    seq: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    sub_item_name: Mapped[str | None] = mapped_column(String(500))
    power_type_code: Mapped[str | None] = mapped_column(
        ForeignKey("power_type.code", ondelete="RESTRICT")
    )
    power_type_raw: Mapped[str | None] = mapped_column(String(100))
    local_code: Mapped[str | None] = mapped_column(String(33))
    sub_local_code: Mapped[str | None] = mapped_column(String(33))
    exercising_body: Mapped[str | None] = mapped_column(String(500))
    handling_unit: Mapped[str | None] = mapped_column(String(500))
    legal_basis: Mapped[str | None] = mapped_column(Text)
    legal_citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    responsibilities: Mapped[str | None] = mapped_column(Text)
    accountability: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ItemStatus] = mapped_column(
        str_enum(ItemStatus, "status"),
        default=ItemStatus.ACTIVE,
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # Where the item was imported from; null when created through the API.
    source_file: Mapped[str | None] = mapped_column(String(255))
    source_line: Mapped[int | None] = mapped_column(Integer)
    source_line_end: Mapped[int | None] = mapped_column(Integer)
    source_page: Mapped[int | None] = mapped_column(Integer)
    source_raw: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # Stable identity of an imported row within its agency's list, so a re-import finds the same
    # item even when several rows share one code.
    import_key: Mapped[str | None] = mapped_column(String(200), index=True)
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batch.id", ondelete="SET NULL")
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
