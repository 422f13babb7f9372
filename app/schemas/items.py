"""Item contract: what clients read and write (权力事项)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.schemas.base import LongText, NoNulStr, Schema, ShortText

CODE_PATTERN = r"^[0-9A-HJ-NP-RTUWXY]{31}(?:[0-9]{2})?$"
LocalCode = Annotated[
    str,
    Field(
        pattern=CODE_PATTERN,
        min_length=31,
        max_length=33,
        description="地方权力编码: 31 characters (33 with a handling-item suffix), upper case",
        examples=["11620621MB176555834620236001000"],
    ),
]
PowerTypeCode = Annotated[
    str, Field(pattern=r"^(0[1-9]|10|20)$", description="standard power type code", examples=["02"])
]
ItemStatusLiteral = Literal["active", "withdrawn"]

ITEM_EXAMPLE: dict[str, Any] = {
    "id": 29,
    "agency": {
        "id": 2,
        "name": "民勤县医疗保障局",
        "credit_code": "11620621MB17655583",
        "division_code": "620621",
        "level": "4",
    },
    "seq": 1,
    "name": "对医保定点医药机构、医保经办机构、参保人骗取医保基金支出的处罚",
    "sub_item_name": None,
    "power_type": {"code": "02", "label": "行政处罚", "raw": "行政处罚"},
    "local_code": "11620621MB176555834620236001000",
    "sub_local_code": None,
    "exercising_body": "民勤县医疗保障局",
    "handling_unit": "基金监管股",
    "legal_basis": "《中华人民共和国社会保险法》（2011年7月1日施行……）第八十七条：……",
    "legal_citations": [
        {"law": "中华人民共和国社会保险法", "articles": ["第八十七条", "第八十八条"]}
    ],
    "responsibilities": "1.立案阶段责任：……",
    "accountability": "因不履行或不正确履行行政职责，有下列情形的，……",
    "remarks": None,
    "status": "active",
    "version": 1,
    "source": {"file": "minqin-medical-security.tsv.txt", "line": 4, "page": None},
    "created_at": "2026-11-25T22:27:15Z",
    "updated_at": "2026-11-25T22:27:15Z",
}


class AgencyRef(BaseModel):
    id: int
    name: str = Field(description="部门名称")
    credit_code: str | None = Field(description="统一社会信用代码 (18)")
    division_code: str | None = Field(description="行政区划代码 (GB/T 2260, 6 digits)")
    level: str | None = Field(description="行使层级 1–7")


class PowerTypeRef(BaseModel):
    code: str | None = Field(description="standard code; null when the printed label is unknown")
    label: str | None = Field(description="standard label")
    raw: str | None = Field(description="label as printed in the source")


class CitationRead(BaseModel):
    law: str
    articles: list[str]


class SourceRef(BaseModel):
    file: str
    line: int | None = None
    page: int | None = None


class ItemRead(BaseModel):
    """One catalogue item (权力事项) in its current state."""

    model_config = {"json_schema_extra": {"examples": [ITEM_EXAMPLE]}}

    id: int
    agency: AgencyRef
    seq: int | None = Field(description="序号 in the source list")
    name: str = Field(description="事项名称")
    sub_item_name: str | None = Field(description="子项名称")
    power_type: PowerTypeRef = Field(description="权力类型")
    local_code: str | None = Field(description="地方权力编码")
    sub_local_code: str | None = Field(description="子项地方权力编码")
    exercising_body: str | None = Field(description="行使主体")
    handling_unit: str | None = Field(description="承办机构")
    legal_basis: str | None = Field(description="实施依据, cleaned text")
    legal_citations: list[CitationRead] = Field(description="laws and articles cited")
    responsibilities: str | None = Field(description="责任事项内容")
    accountability: str | None = Field(description="追责情形")
    remarks: str | None = Field(description="备注")
    status: ItemStatusLiteral
    version: int = Field(description="1 on create, +1 on every change; the ETag")
    source: SourceRef | None = Field(description="where it was imported from; null via API")
    created_at: datetime
    updated_at: datetime


class ItemCreate(Schema):
    """A new item; `reason` is recorded with the revision."""

    agency_id: int = Field(ge=1, le=2_147_483_647)
    seq: int | None = Field(default=None, ge=0, le=2_147_483_647)
    name: ShortText
    sub_item_name: ShortText | None = None
    power_type: PowerTypeCode
    power_type_raw: Annotated[NoNulStr, Field(max_length=100)] | None = None
    local_code: LocalCode | None = None
    sub_local_code: LocalCode | None = None
    exercising_body: ShortText
    handling_unit: ShortText | None = None
    legal_basis: LongText
    responsibilities: LongText
    accountability: LongText
    remarks: LongText | None = None
    reason: Annotated[NoNulStr, Field(max_length=1000)] | None = None


class ItemUpdate(Schema):
    """Fields to change; absent fields stay, an explicit null clears an optional field."""

    seq: int | None = Field(default=None, ge=0, le=2_147_483_647)
    name: ShortText | None = None
    sub_item_name: ShortText | None = None
    power_type: PowerTypeCode | None = None
    power_type_raw: Annotated[NoNulStr, Field(max_length=100)] | None = None
    local_code: LocalCode | None = None
    sub_local_code: LocalCode | None = None
    exercising_body: ShortText | None = None
    handling_unit: ShortText | None = None
    legal_basis: LongText | None = None
    responsibilities: LongText | None = None
    accountability: LongText | None = None
    remarks: LongText | None = None
    reason: Annotated[NoNulStr, Field(max_length=1000)] | None = None


class ItemRevisionRead(BaseModel):
    """One revision of an item: its full state at `version`, and who changed what and why."""

    item_id: int
    version: int
    kind: Literal["create", "update", "withdraw", "restore"]
    changed_at: datetime
    actor: str
    reason: str | None
    changed_fields: list[str]
    item: ItemRead = Field(description="the item as it was at this version")


class FieldChange(BaseModel):
    field: str
    before: Any
    after: Any


class ItemDiff(BaseModel):
    item_id: int
    from_version: int
    to_version: int
    changes: list[FieldChange]


class ItemFilter(BaseModel):
    """Query filters of GET /items."""

    agency: int | None = None
    power_type: str | None = None
    status: ItemStatusLiteral | None = None
    q: str | None = None
    local_code: str | None = None
    updated_since: datetime | None = None
