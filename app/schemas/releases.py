"""Release contract: a named, immutable snapshot of the catalogue (发布版本) and release diffs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.schemas.base import NoNulStr, Schema
from app.schemas.items import FieldChange

RELEASE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Names the release of "now" in a diff; no release may take it.
CURRENT = "current"

ReleaseName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=RELEASE_NAME_PATTERN,
        description="letters, digits, `.`, `_` and `-`; starts with a letter or digit",
        examples=["2026-11"],
    ),
]

RELEASE_EXAMPLE: dict[str, Any] = {
    "name": "2026-11",
    "note": "首次发布",
    "created_at": "2026-11-26T09:00:00Z",
    "created_by": "api",
    "item_count": 37,
    "is_forced": True,
    "force_reason": "重复编码已报编制部门核实，先行发布",
}


# A forced release needs a reason with something visible in it; said in JSON Schema too, so that
# clients and fuzzers know the rule, not just the server.
_FORCE_NEEDS_REASON: dict[str, Any] = {
    "if": {"properties": {"force": {"const": True}}, "required": ["force"]},
    "then": {
        "properties": {"reason": {"type": "string", "pattern": r"\S"}},
        "required": ["reason"],
    },
}


class ReleaseCreate(Schema):
    """Freeze the current catalogue under `name`; `force` needs a `reason`, which is recorded."""

    model_config = ConfigDict(
        json_schema_extra={
            **_FORCE_NEEDS_REASON,
            "examples": [
                {"name": "2026-11", "note": "首次发布"},
                {
                    "name": "2026-11",
                    "note": "首次发布",
                    "force": True,
                    "reason": "重复编码已报编制部门核实，先行发布",
                },
            ],
        }
    )

    name: Annotated[
        ReleaseName,
        # The reserved name, refused (422) by the service; said in the schema too, so that a
        # client generating names from it never makes one the API refuses.
        Field(json_schema_extra={"not": {"const": CURRENT}}),
    ]
    note: Annotated[NoNulStr, Field(max_length=2000)] | None = None
    force: bool = Field(
        default=False, description="release despite error-severity validation issues"
    )
    reason: Annotated[NoNulStr, Field(max_length=1000)] | None = Field(
        default=None,
        validate_default=True,
        description="why the release is forced; required with `force`",
    )

    @field_validator("reason")
    @classmethod
    def _reason_with_force(cls, reason: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("force") and not (reason and reason.strip()):
            raise ValueError("a forced release needs a reason")
        return reason


class ReleaseRead(BaseModel):
    """A release: which revision of every item was published under this name."""

    model_config = {"json_schema_extra": {"examples": [RELEASE_EXAMPLE]}}

    name: str
    note: str | None
    created_at: datetime
    created_by: str
    item_count: int = Field(description="items recorded, withdrawn ones included")
    is_forced: bool = Field(description="made despite error-severity validation issues")
    force_reason: str | None = Field(description="why it was forced; null unless forced")


class ReleaseItemRef(BaseModel):
    """An item in a release diff: who it is and at which version."""

    id: int
    agency: str = Field(description="部门名称")
    seq: int | None
    name: str = Field(description="事项名称")
    local_code: str | None
    version: int = Field(description="the version in the release the entry describes")


class ReleaseItemChange(BaseModel):
    """An item published on both sides whose content differs."""

    id: int
    agency: str
    seq: int | None
    name: str
    local_code: str | None
    from_version: int
    to_version: int
    changes: list[FieldChange]


class ReleaseDiffCounts(BaseModel):
    added: int
    changed: int
    withdrawn: int


class ReleaseDiff(BaseModel):
    """What changed from release `base` to `target` (`current`: the catalogue now).

    Only active items count as published: `added` are active in `target` but not in `base`
    (new, or restored), `withdrawn` are active in `base` but not in `target`, `changed` are
    active on both sides with different content. Lists are in item id order.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "base": "2026-11",
                    "target": "current",
                    "counts": {"added": 0, "changed": 1, "withdrawn": 0},
                    "added": [],
                    "changed": [
                        {
                            "id": 29,
                            "agency": "民勤县医疗保障局",
                            "seq": 1,
                            "name": "对医保定点医药机构、医保经办机构、"
                            "参保人骗取医保基金支出的处罚",
                            "local_code": "11620621MB176555834620236001000",
                            "from_version": 1,
                            "to_version": 2,
                            "changes": [
                                {"field": "remarks", "before": None, "after": "2026年清单复核"}
                            ],
                        }
                    ],
                    "withdrawn": [],
                }
            ]
        }
    )

    base: str = Field(description="release name, or `current`")
    target: str = Field(description="release name, or `current`")
    counts: ReleaseDiffCounts
    added: list[ReleaseItemRef] = Field(description="as in `target`")
    changed: list[ReleaseItemChange]
    withdrawn: list[ReleaseItemRef] = Field(description="as in `base`")
