"""Reference data: agencies and power types."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AgencyRead(BaseModel):
    id: int
    name: str = Field(description="部门名称")
    credit_code: str | None
    division_code: str | None
    level: str | None
    item_count: int = Field(description="active items of the agency")


class PowerTypeRead(BaseModel):
    code: str
    label: str
    source: str | None
    notes: str | None
