"""Validation contract: rules, issues (校验问题), runs and their counts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.base import Schema

SeverityLiteral = Literal["error", "warning", "info"]
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

    agency_id: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="only this agency's items"
    )


class ValidationRunCreated(BaseModel):
    """A stored run: its counts and where its issues are."""

    id: int
    counts: ValidationCounts
    issues_url: str = Field(examples=["/api/v1/validation/issues?run_id=7"])


class ValidationRunAgencyRef(BaseModel):
    id: int
    name: str


class ValidationRunRead(BaseModel):
    """A stored run, compared with the previous run of the same scope."""

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
