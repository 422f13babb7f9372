"""The change feed: follow `next_cursor` to sync every change without missing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import SessionDep, SettingsDep
from app.api.problems import PROBLEM_RESPONSES, problem_doc
from app.api.responses import model_response
from app.schemas.changes import ChangePage
from app.schemas.items import CURSOR_PATTERN
from app.services import changes

router = APIRouter(tags=["changes"])


@router.get(
    "/changes",
    response_model=ChangePage,
    summary="Follow the change feed",
    responses={**PROBLEM_RESPONSES, 400: problem_doc("the cursor is not valid")},
)
async def list_changes(
    session: SessionDep,
    settings: SettingsDep,
    after: Annotated[
        str | None,
        Query(
            max_length=512, pattern=CURSOR_PATTERN, description="next_cursor of the previous call"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Creates, updates, withdrawals and restores in order, each with the item's new state.

    Sync recipe: take a full export once, then poll this feed from the start (or from the cursor
    of a previous run), applying each change by `item_id` and `version`; store `next_cursor`
    after applying a page.
    """
    page = await changes.list_changes(
        session, after=after, limit=limit, secret=settings.cursor_secret
    )
    return model_response(page)
