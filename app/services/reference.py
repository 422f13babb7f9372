"""Reference data use cases: agencies with their item counts, the power-type table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ItemStatus
from app.errors import AgencyNotFoundError
from app.models import Agency, Item, PowerType
from app.schemas.reference import AgencyRead, PowerTypeRead


async def list_agencies(session: AsyncSession) -> list[AgencyRead]:
    counts = (
        select(Item.agency_id, func.count().label("n"))
        .where(Item.status == ItemStatus.ACTIVE)
        .group_by(Item.agency_id)
        .subquery()
    )
    stmt = (
        select(Agency, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.agency_id == Agency.id)
        .order_by(Agency.id)
    )
    return [
        AgencyRead(
            id=a.id,
            name=a.name,
            credit_code=a.credit_code,
            division_code=a.division_code,
            level=a.level,
            item_count=int(n),
        )
        for a, n in (await session.execute(stmt)).all()
    ]


async def agency_by_name(session: AsyncSession, name: str) -> Agency:
    """The agency called `name`, as the commands' `--agency NAME` options name one.

    Raises:
        AgencyNotFoundError: no agency has that name.
    """
    agency = await session.scalar(select(Agency).where(Agency.name == name))
    if agency is None:
        raise AgencyNotFoundError(f"agency {name!r} does not exist")
    return agency


async def require_agency(session: AsyncSession, agency_id: int) -> None:
    """Refuse an agency id that names no agency, where a request scopes or filters by one.

    A listing filtered by an unknown agency would otherwise answer with an empty page, which a
    client cannot tell from an agency without items. Agencies are never deleted, so an id that
    once named one still does.

    Raises:
        AgencyNotFoundError: no agency has that id.
    """
    if await session.scalar(select(Agency.id).where(Agency.id == agency_id)) is None:
        raise AgencyNotFoundError(f"agency {agency_id} does not exist")


async def list_power_types(session: AsyncSession) -> list[PowerTypeRead]:
    rows = (await session.scalars(select(PowerType).order_by(PowerType.code))).all()
    return [PowerTypeRead.model_validate(r, from_attributes=True) for r in rows]
