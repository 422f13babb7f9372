"""The audit trail, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import AdminReaderDep, SessionDep
from app.api.problems import PROBLEM_RESPONSES, problem_doc
from app.schemas.audit import AuditEntryRead
from app.schemas.base import NO_NUL_PATTERN, Rfc3339DateTime
from app.services import audit

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    response_model=list[AuditEntryRead],
    summary="List audit entries",
    responses={
        **PROBLEM_RESPONSES,
        401: problem_doc("no valid API key"),
        403: problem_doc("not an admin key"),
    },
)
async def list_audit_entries(
    session: SessionDep,
    _admin: AdminReaderDep,
    action: Annotated[
        str | None, Query(max_length=100, pattern=NO_NUL_PATTERN, description="e.g. item.update")
    ] = None,
    target_type: Annotated[
        str | None, Query(max_length=50, pattern=NO_NUL_PATTERN, description="e.g. item")
    ] = None,
    target_id: Annotated[
        str | None, Query(max_length=100, pattern=NO_NUL_PATTERN, description="e.g. 29")
    ] = None,
    key_id: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="entries made with this API key")
    ] = None,
    actor: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL_PATTERN,
            description="exactly this actor, e.g. key:3:release-bot or cli:root",
        ),
    ] = None,
    since: Annotated[
        Rfc3339DateTime | None, Query(description="entries at or after (RFC 3339, with a zone)")
    ] = None,
    until: Annotated[
        Rfc3339DateTime | None, Query(description="entries before (RFC 3339, with a zone)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryRead]:
    """Who changed what, when and why, newest first."""
    return await audit.list_entries(
        session,
        action=action,
        target_type=target_type,
        target_id=target_id,
        key_id=key_id,
        actor=actor,
        since=since,
        until=until,
        limit=limit,
    )
