"""Power type (权力类型): the standard codes of GB/T 39046-2020 A.1."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class PowerType(Base):
    __tablename__ = "power_type"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    label: Mapped[str] = mapped_column(String(50), unique=True)
    source: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(String(500))
