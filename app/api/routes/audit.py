"""The audit trail, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from app.api.deps import AdminReaderDep, SessionDep, SettingsDep
from app.api.problems import PROBLEM_RESPONSES, problem_doc
from app.api.responses import NEXT_LINK_HEADER, cursor_query, next_link
from app.schemas.audit import AuditEntryRead
from app.schemas.base import NO_NUL_PATTERN, Rfc3339DateTime
from app.services import audit

router = APIRouter(tags=["audit"])

_ENTRIES = TypeAdapter(list[AuditEntryRead])


@router.get(
    "/audit",
    response_model=list[AuditEntryRead],
    summary="List audit entries",
    responses={
        **PROBLEM_RESPONSES,
        200: {"description": "A page of entries, newest first", "headers": NEXT_LINK_HEADER},
        401: problem_doc("no valid API key"),
        403: problem_doc("not an admin key"),
    },
)
async def list_audit_entries(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
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
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    cursor: Annotated[
        str | None, cursor_query('from the previous page\'s Link rel="next"; the same filters')
    ] = None,
) -> Response:
    """Who changed what, when and why, newest first.

    A page is a JSON array. When there are older entries, the `Link` header's rel="next" is this
    URL with the next page's `cursor`; the last page has no such link.
    """
    entries, next_cursor = await audit.list_entries(
        session,
        action=action,
        target_type=target_type,
        target_id=target_id,
        key_id=key_id,
        actor=actor,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        secret=settings.cursor_secret,
    )
    return Response(
        content=_ENTRIES.dump_json(entries),
        media_type="application/json",
        headers=next_link(request, next_cursor),
    )
