"""The change feed: follow `next_cursor` to sync every change without missing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import SessionDep, SettingsDep
from app.api.problems import PROBLEM_RESPONSES
from app.api.responses import cursor_query, next_link
from app.schemas.changes import ChangePage
from app.services import changes

router = APIRouter(tags=["changes"])


@router.get(
    "/changes",
    response_model=ChangePage,
    summary="Follow the change feed",
    responses={
        **PROBLEM_RESPONSES,
        200: {
            "description": "A page of the feed",
            "headers": {
                "Link": {
                    "description": (
                        'RFC 8288 `<…>; rel="next"`, the URL of the next page, when `has_more`: '
                        "a consumer can ask for it before it has read this page's body"
                    ),
                    "schema": {"type": "string"},
                }
            },
        },
    },
)
async def list_changes(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    after: Annotated[str | None, cursor_query("next_cursor of the previous call")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Creates, updates, withdrawals and restores in order, each with the item's new state.

    Sync recipe: take a full export once, then poll this feed from the start (or from the cursor
    of a previous run), applying each change by `item_id` and `version`; store `next_cursor`
    after applying a page.
    """
    page = await changes.page_json(session, after=after, limit=limit, secret=settings.cursor_secret)
    # next_cursor is always there (the place to poll from); a next page only while has_more.
    cursor = page.next_cursor if page.has_more else None
    headers = next_link(request, cursor, parameter="after")
    return Response(content=page.body, media_type="application/json", headers=headers)
