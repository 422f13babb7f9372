"""Reference data: agencies and the standard power types."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ReadSessionDep
from app.api.problems import PROBLEM_RESPONSES
from app.schemas.reference import AgencyRead, PowerTypeRead
from app.services import reference

router = APIRouter(tags=["reference"])


@router.get(
    "/agencies",
    response_model=list[AgencyRead],
    summary="List agencies",
    responses=PROBLEM_RESPONSES,
)
async def list_agencies(session: ReadSessionDep) -> list[AgencyRead]:
    """Every agency with the number of its active items."""
    return await reference.list_agencies(session)


@router.get(
    "/power-types",
    response_model=list[PowerTypeRead],
    summary="List power types",
    responses=PROBLEM_RESPONSES,
)
async def list_power_types(session: ReadSessionDep) -> list[PowerTypeRead]:
    """The standard power types (GB/T 39046-2020 A.1)."""
    return await reference.list_power_types(session)
