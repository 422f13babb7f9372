"""API key: a bearer token stored only as a hash, with a scope and the agencies it may write."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.enums import KeyScope
from app.models.base import Base
from app.models.types import UTCDateTime, str_enum, utcnow


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The first characters of the token, shown in listings so a key can be recognised.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[KeyScope] = mapped_column(str_enum(KeyScope, "scope"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKeyAgency(Base):
    __tablename__ = "api_key_agency"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), primary_key=True
    )
