"""Item contract: what clients read and write (权力事项)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from app.schemas.base import (
    JsonInt,
    LongText,
    NonNegativeInt32,
    NoNulStr,
    Schema,
    ShortText,
    VisibleLongText,
    VisibleShortText,
)

CODE_PATTERN = r"^[0-9A-HJ-NP-RTUWXY]{31}(?:[0-9]{2})?$"
# A code as a lookup takes it: letters in either case, since they are compared upper-cased (the
# code's own form) and a code typed or copied in lower case names the same item.
CODE_LOOKUP_PATTERN = r"^[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{31}(?:[0-9]{2})?$"
# Pagination cursors are opaque and signed, written in the URL-safe base64 alphabet.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
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
# Fields every item has; they can be changed but never cleared.
REQUIRED_ITEM_FIELDS = (
    "name",
    "power_type",
    "exercising_body",
    "legal_basis",
    "responsibilities",
    "accountability",
)

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


ITEM_CREATE_EXAMPLE: dict[str, Any] = {
    "agency_id": 2,
    "seq": 10,
    "name": "对医保定点医药机构、医保经办机构、参保人骗取医保基金支出的处罚",
    "power_type": "02",
    "local_code": "11620621MB176555834620236010000",
    "exercising_body": "民勤县医疗保障局",
    "handling_unit": "基金监管股",
    "legal_basis": "《中华人民共和国社会保险法》第八十七条：……",
    "responsibilities": "1.立案阶段责任：……",
    "accountability": "因不履行或不正确履行行政职责，有下列情形的，……",
    "reason": "补录清单遗漏的事项",
}
ITEM_UPDATE_EXAMPLE: dict[str, Any] = {"handling_unit": "基金监管股", "reason": "承办机构调整"}


class ItemCreate(Schema):
    """A new item; `reason` is recorded with the revision."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_CREATE_EXAMPLE]})

    agency_id: JsonInt = Field(ge=1, le=2_147_483_647, description="the owning agency's id")
    seq: NonNegativeInt32 | None = Field(default=None, description="序号")
    name: VisibleShortText = Field(description="事项名称")
    sub_item_name: ShortText | None = Field(default=None, description="子项名称")
    power_type: PowerTypeCode
    power_type_raw: Annotated[NoNulStr, Field(max_length=100)] | None = Field(
        default=None, description="the label as printed; default: the standard label"
    )
    local_code: LocalCode | None = None
    sub_local_code: LocalCode | None = Field(default=None, description="子项地方权力编码")
    exercising_body: VisibleShortText = Field(description="行使主体")
    handling_unit: ShortText | None = Field(default=None, description="承办机构")
    legal_basis: VisibleLongText = Field(description="实施依据; laws and articles are extracted")
    responsibilities: VisibleLongText = Field(description="责任事项内容")
    accountability: VisibleLongText = Field(description="追责情形")
    remarks: LongText | None = Field(default=None, description="备注")
    reason: Annotated[NoNulStr, Field(max_length=1000)] | None = Field(
        default=None, description="why (recorded with the revision; or X-Change-Reason)"
    )


class StatusChange(Schema):
    """The optional body of a withdrawal or a restore: why (or the X-Change-Reason header)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "事项已由上级部门取消"}]})

    reason: Annotated[NoNulStr, Field(max_length=1000)] | None = Field(
        default=None, description="why (recorded with the revision; or X-Change-Reason)"
    )


def _no_default(schema: dict[str, Any]) -> None:
    # Absent means "keep"; the document must not suggest null as a value.
    schema.pop("default", None)


class ItemUpdate(Schema):
    """Fields to change; absent fields stay, an explicit null clears an optional field.

    Required fields (name, power_type, exercising_body, legal_basis, responsibilities,
    accountability) can be changed but not cleared: they are not nullable.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_UPDATE_EXAMPLE]})

    seq: NonNegativeInt32 | None = Field(default=None, description="序号")
    name: VisibleShortText | SkipJsonSchema[None] = Field(
        default=None, description="事项名称", json_schema_extra=_no_default
    )
    sub_item_name: ShortText | None = Field(default=None, description="子项名称")
    power_type: PowerTypeCode | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default
    )
    power_type_raw: Annotated[NoNulStr, Field(max_length=100)] | None = None
    local_code: LocalCode | None = None
    sub_local_code: LocalCode | None = Field(default=None, description="子项地方权力编码")
    exercising_body: VisibleShortText | SkipJsonSchema[None] = Field(
        default=None, description="行使主体", json_schema_extra=_no_default
    )
    handling_unit: ShortText | None = Field(default=None, description="承办机构")
    legal_basis: VisibleLongText | SkipJsonSchema[None] = Field(
        default=None, description="实施依据", json_schema_extra=_no_default
    )
    responsibilities: VisibleLongText | SkipJsonSchema[None] = Field(
        default=None, description="责任事项内容", json_schema_extra=_no_default
    )
    accountability: VisibleLongText | SkipJsonSchema[None] = Field(
        default=None, description="追责情形", json_schema_extra=_no_default
    )
    remarks: LongText | None = Field(default=None, description="备注")
    reason: Annotated[NoNulStr, Field(max_length=1000)] | None = Field(
        default=None, description="why (recorded with the revision; or X-Change-Reason)"
    )

    @field_validator(*REQUIRED_ITEM_FIELDS, mode="before")
    @classmethod
    def _not_cleared(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("this field is required: change it or leave it out")
        return value


REVISION_EXAMPLE: dict[str, Any] = {
    "item_id": 29,
    "version": 2,
    "kind": "update",
    "changed_at": "2026-11-26T09:30:00Z",
    "actor": "key:1:quickstart",
    "reason": "年度复核",
    "changed_fields": ["remarks"],
    "item": {**ITEM_EXAMPLE, "remarks": "2026年清单复核", "version": 2},
}


class ItemRevisionRead(BaseModel):
    """One revision of an item: its full state at `version`, and who changed what and why."""

    model_config = ConfigDict(json_schema_extra={"examples": [REVISION_EXAMPLE]})

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
    """Field-level changes between two versions of one item."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item_id": 29,
                    "from_version": 1,
                    "to_version": 2,
                    "changes": [{"field": "remarks", "before": None, "after": "2026年清单复核"}],
                }
            ]
        }
    )

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
