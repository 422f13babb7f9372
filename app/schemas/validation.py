"""Validation contract: rules, issues (校验问题), runs and their counts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.schemas.base import PositiveInt32, Schema

SeverityLiteral = Literal["error", "warning", "info"]

# Examples from the real Minqin list: its items 4, 5 and 6 share one code.
ISSUE_EXAMPLE: dict[str, JsonValue] = {
    "rule": "code.duplicate",
    "severity": "error",
    "message": "同一地方权力编码“11620621MB176555834621036001000”用于3个现行事项"
    "（民勤县医疗保障局第4、5、6项）：一个编码只能标识一个事项",
    "field": "local_code",
    "items": [
        {
            "id": 32,
            "seq": 4,
            "agency": "民勤县医疗保障局",
            "name": "对医疗保险基金预算决算草案进行编制及审核",
        },
        {
            "id": 33,
            "seq": 5,
            "agency": "民勤县医疗保障局",
            "name": "对医疗机构、药品生产企业在药品交易过程中发生的各种不诚信行为的监管",
        },
        {
            "id": 34,
            "seq": 6,
            "agency": "民勤县医疗保障局",
            "name": "对我县非营利性医疗机构在特殊情况下使用我省非集中采购中标药品进行核准",
        },
    ],
    "value": "11620621MB176555834621036001000",
}
STORED_ISSUE_EXAMPLE: dict[str, JsonValue] = {
    **ISSUE_EXAMPLE,
    "id": 1,
    "run_id": 7,
    "fingerprint": "cfea3ada8d6cd7b76dffb9fe8d1be11526084ba3e1bbf53ca3a9d18516c96750",
    "first_seen_run_id": 7,
    "first_seen_at": "2026-11-26T09:00:00Z",
}
RULE_PATTERN = r"^[a-z_]{1,40}\.[a-z_]{1,60}$"


class ValidationIssueItemRef(BaseModel):
    """An item an issue is about, as it was when the issue was found."""

    id: int
    seq: int | None = Field(description="序号 in the source list")
    agency: str = Field(description="部门名称")
    name: str = Field(description="事项名称")


class ValidationIssueRead(BaseModel):
    """One problem in the catalogue, with the items involved."""

    rule: str = Field(description="stable rule id", examples=["code.duplicate"])
    severity: SeverityLiteral = Field(
        description="error blocks publishing; warning is accepted and flagged; info is a note"
    )
    message: str = Field(description="说明（中文，面向清单编制人员）")
    field: str | None = Field(description="the item field concerned", examples=["local_code"])
    items: list[ValidationIssueItemRef]
    value: str | None = Field(
        description="the offending value (a code, a label), null when the value is missing",
        examples=["11620621MB176555834621036001000"],
    )


class StoredValidationIssueRead(ValidationIssueRead):
    """An issue as a validation run stored it."""

    model_config = ConfigDict(json_schema_extra={"examples": [STORED_ISSUE_EXAMPLE]})

    id: int
    run_id: int
    fingerprint: str = Field(description="equal across runs for the same problem")
    first_seen_run_id: int = Field(description="the earliest run that reported this problem")
    first_seen_at: datetime = Field(description="when that run started")


class ValidationCounts(BaseModel):
    """Issues per severity."""

    error: int = 0
    warning: int = 0
    info: int = 0


class ValidationReport(BaseModel):
    """Every issue of a check, as `powercat validate --format json` prints it."""

    issues: list[ValidationIssueRead]
    counts: ValidationCounts


class ValidationRuleRead(BaseModel):
    """A rule: what it checks, why it matters and how a clerk fixes what it finds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "code.duplicate",
                    "check": 3,
                    "severity": "error",
                    "fields": ["local_code", "sub_local_code"],
                    "title": "编码重复",
                    "explanation": "一个实施编码只能标识目录中的一个现行事项。",
                    "fix": "确认哪个事项是该编码的正确持有者，为其余事项重新编主项顺序码。",
                }
            ]
        }
    )

    id: str = Field(examples=["code.duplicate"])
    check: int | None = Field(
        description="number of the check in the reference table (codes.md); null for extras"
    )
    severity: SeverityLiteral
    fields: list[str] = Field(description="item fields the rule looks at")
    title: str = Field(description="名称")
    explanation: str = Field(description="说明：检查什么、为什么")
    fix: str = Field(description="如何改正")


class ValidationRunCreate(Schema):
    """Run every rule over the catalogue, or over one agency's items."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"agency_id": 2}, {}]})

    agency_id: PositiveInt32 | None = Field(default=None, description="only this agency's items")


class ValidationRunCreated(BaseModel):
    """A stored run: its counts and where its issues are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "counts": {"error": 1, "warning": 0, "info": 0},
                    "issues_url": "/api/v1/validation/issues?run_id=7",
                }
            ]
        }
    )

    id: int
    counts: ValidationCounts
    issues_url: str = Field(examples=["/api/v1/validation/issues?run_id=7"])


class ValidationRunAgencyRef(BaseModel):
    id: int
    name: str


class ValidationRunRead(BaseModel):
    """A stored run, compared with the previous run of the same scope."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "started_at": "2026-11-26T09:00:00Z",
                    "finished_at": "2026-11-26T09:00:01Z",
                    "agency": {"id": 2, "name": "民勤县医疗保障局"},
                    "actor": "key:1:quickstart",
                    "counts": {"error": 1, "warning": 0, "info": 0},
                    "issues_url": "/api/v1/validation/issues?run_id=7",
                    "previous_run_id": None,
                    "new_fingerprints": [
                        "cfea3ada8d6cd7b76dffb9fe8d1be11526084ba3e1bbf53ca3a9d18516c96750"
                    ],
                    "fixed_fingerprints": [],
                }
            ]
        }
    )

    id: int
    started_at: datetime
    finished_at: datetime | None
    agency: ValidationRunAgencyRef | None = Field(description="null: the whole catalogue")
    actor: str | None
    counts: ValidationCounts
    issues_url: str
    previous_run_id: int | None = Field(
        description="the run before this one with the same scope; null for the first"
    )
    new_fingerprints: list[str] = Field(
        description="problems this run reported that the previous run did not"
    )
    fixed_fingerprints: list[str] = Field(
        description="problems the previous run reported that this run did not: fixed"
    )


class ValidationIssueFilter(BaseModel):
    """Query filters of GET /validation/issues."""

    run_id: int | None = None
    rule: str | None = None
    severity: SeverityLiteral | None = None
    agency: int | None = None
    item_id: int | None = None
    fingerprint: str | None = None
