"""Reference data: agencies and power types."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AgencyRead(BaseModel):
    """An agency (部门) whose list is in the catalogue."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "name": "民勤县医疗保障局",
                    "credit_code": "11620621MB17655583",
                    "division_code": "620621",
                    "level": "4",
                    "item_count": 9,
                }
            ]
        }
    )

    id: int
    name: str = Field(description="部门名称")
    credit_code: str | None = Field(description="统一社会信用代码 (18)")
    division_code: str | None = Field(description="行政区划代码 (GB/T 2260, 6 digits)")
    level: str | None = Field(description="行使层级 1–7")
    item_count: int = Field(description="active items of the agency")


class PowerTypeRead(BaseModel):
    """A standard power type (权力类型)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "02", "label": "行政处罚", "source": "GB/T 39046-2020 A.1", "notes": None}
            ]
        }
    )

    code: str = Field(description="two-digit code")
    label: str = Field(description="standard label")
    source: str | None
    notes: str | None
