"""Decode an implementation code (实施编码): its segments, their meaning and every problem."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.problems import PROBLEM_RESPONSES
from app.schemas.base import NO_NUL_PATTERN
from app.schemas.codes import CodeDecodeRead, CodeLabelsRead, CodePartsRead, CodeProblemRead
from app.services import codes

router = APIRouter(tags=["codes"])

_SUB_LABELS = {"000": "无子项", "00Y": "有子项的主项"}


def _labels(parts: codes.CodeParts) -> CodeLabelsRead:
    if parts.region == "00":
        region: str | None = "沿用国家目录事项（00）"
    elif parts.region in codes.PROVINCE_CODES:
        region = f"省级增设事项（{parts.region}）"
    else:
        region = None
    if parts.sub in _SUB_LABELS:
        sub: str | None = _SUB_LABELS[parts.sub]
    elif codes.is_sub_item(parts):
        sub = f"第{int(parts.sub)}个子项"
    else:
        sub = None
    return CodeLabelsRead(
        level=codes.EXERCISE_LEVELS.get(parts.level),
        type=codes.POWER_TYPES.get(parts.type) if parts.type in codes.ITEM_TYPES else None,
        region=region,
        sub=sub,
    )


@router.get(
    "/codes/{code}",
    response_model=CodeDecodeRead,
    summary="Decode a code",
    responses=PROBLEM_RESPONSES,
)
async def decode_code(
    code: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            pattern=NO_NUL_PATTERN,
            description="a 31- or 33-character code; full-width forms and spaces are normalised",
        ),
    ],
) -> CodeDecodeRead:
    """Decode a code into its segments; a bad code is 200 with `valid` false and its problems."""
    decoded = codes.decode(code)
    parts = decoded.parts
    return CodeDecodeRead(
        valid=decoded.valid,
        normalized=decoded.normalized,
        parts=CodePartsRead.model_validate(parts, from_attributes=True) if parts else None,
        labels=_labels(parts) if parts else None,
        problems=[
            CodeProblemRead(code=p.code, message=p.message, position=p.position)
            for p in decoded.problems
        ],
    )
