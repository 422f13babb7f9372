"""Agency (行使主体所属部门): the body whose list an item belongs to."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin


class Agency(TimestampMixin, Base):
    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    division_code: Mapped[str | None] = mapped_column(String(6))
    level: Mapped[str | None] = mapped_column(String(1))
