"""Items (权力事项): read, find by code, list, and versioned writes with If-Match."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import ActorDep, IfMatchDep, ReadSessionDep, SessionDep, SettingsDep
from app.api.etags import IF_NONE_MATCH_MAX_LENGTH, item_etag
from app.api.problems import PROBLEM_RESPONSES, WRITE_PROBLEM_RESPONSES, problem_doc
from app.api.responses import (
    NEXT_LINK_HEADER,
    cursor_query,
    item_response,
    model_response,
    next_link,
)
from app.db.sqlite import write_transaction
from app.enums import ItemStatus
from app.schemas.base import NO_NUL_PATTERN, Rfc3339DateTime
from app.schemas.common import Page
from app.schemas.items import (
    CODE_LOOKUP_PATTERN,
    ItemCreate,
    ItemDiff,
    ItemFilter,
    ItemRead,
    ItemRevisionRead,
    ItemStatusLiteral,
    ItemUpdate,
    StatusChange,
)
from app.schemas.releases import RELEASE_NAME_PATTERN
from app.services import items, releases
from app.services.revisions import Actor

router = APIRouter(prefix="/items", tags=["items"])

ItemId = Annotated[
    int, Path(ge=1, le=2_147_483_647, description="the item's stable id", examples=[29])
]
Version = Annotated[int, Path(ge=1, le=2_147_483_647, description="a version of the item")]


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("no item with this id")}
ETAG_HEADER: dict[str, Any] = {
    "ETag": {
        "description": 'the item\'s version, e.g. "3": send it back as If-Match to change it',
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    }
}
CODE_ETAG_HEADER: dict[str, Any] = {
    "ETag": {
        "description": 'the item\'s id and version, e.g. "29.3" (a code can pass to another item, '
        "so the tag names both); /items/{id} takes it as If-Match or If-None-Match too",
        "schema": {"type": "string", "pattern": '^"[0-9]+\\.[0-9]+"$'},
    }
}
# OpenAPI links: what a client (or Schemathesis' stateful tests) can do next with the item it got,
# the id from the body and the ETag header as If-Match.
_ID = {"item_id": "$response.body#/id"}
_ID_AND_ETAG = {**_ID, "header.if-match": "$response.header.ETag"}
ITEM_LINKS: dict[str, Any] = {
    "get_item": {"operationId": "get_item", "parameters": _ID, "description": "read it again"},
    "update_item": {
        "operationId": "update_item",
        "parameters": _ID_AND_ETAG,
        "description": "change it: If-Match is this response's ETag",
    },
    "withdraw_item": {
        "operationId": "withdraw_item",
        "parameters": _ID_AND_ETAG,
        "description": "withdraw it: If-Match is this response's ETag",
    },
    "list_item_revisions": {
        "operationId": "list_item_revisions",
        "parameters": _ID,
        "description": "its history",
    },
}
RESTORE_LINK: dict[str, Any] = {
    "restore_item": {
        "operationId": "restore_item",
        "parameters": _ID_AND_ETAG,
        "description": "restore it: If-Match is this response's ETag",
    }
}
ITEM_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the item; ETag is its version",
        "headers": ETAG_HEADER,
        "links": ITEM_LINKS,
    }
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "not modified: If-None-Match names this version", "headers": ETAG_HEADER}
}
CHANGE_REFUSED: dict[int | str, dict[str, Any]] = {
    422: problem_doc(
        "The request is invalid (`errors`), or the change would give the item a catalogue error "
        "(`item.validation_failed`, with the `issues` it would add)."
    )
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_PROBLEM_RESPONSES,
    **CHANGE_REFUSED,
    **NOT_FOUND,
    412: problem_doc("If-Match names an older version; the problem carries `current_etag`"),
    428: problem_doc("If-Match header missing"),
}


def _release_query(description: str) -> Any:
    """The `release` query parameter of the reads that can be pinned to a release."""
    return Query(
        min_length=1, max_length=100, pattern=RELEASE_NAME_PATTERN, description=description
    )


def _with_etag(item: ItemRead, response: Response) -> ItemRead:
    response.headers["ETag"] = item_etag(item.version)
    return item


def _reason(body_reason: str | None, actor: Actor) -> Actor:
    return replace(actor, reason=body_reason or actor.reason)


@router.get(
    "",
    response_model=Page[ItemRead],
    summary="List items",
    responses={
        **PROBLEM_RESPONSES,
        404: problem_doc(
            "The page is empty and no agency has the id `agency` (not an empty page: an agency "
            "without matching items gets one)"
        ),
        200: {"description": "A page of items", "headers": NEXT_LINK_HEADER},
    },
)
async def list_items(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    agency: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="agency id")] = None,
    power_type: Annotated[
        str | None, Query(pattern=r"^(0[0-9]|10|20)$", description="power type code")
    ] = None,
    status: Annotated[ItemStatusLiteral | None, Query(description="active or withdrawn")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=NO_NUL_PATTERN,
            description="Chinese full-text search: items whose name, legal basis, "
            "responsibilities, accountability or remarks contain the term (ASCII letters in any "
            "case), name matches first. Several words (up to 8), separated by spaces, find the "
            "items that hold every word, each in any of those fields; name matches of the "
            "longest word first.",
            examples=["骗取医保基金", "医保 基金"],
        ),
    ] = None,
    local_code: Annotated[
        str | None,
        Query(
            min_length=31,
            max_length=33,
            pattern=NO_NUL_PATTERN,
            description="exact local code (normalised like the stored codes)",
        ),
    ] = None,
    updated_since: Annotated[
        Rfc3339DateTime | None,
        Query(
            description="only items changed at or after (RFC 3339, with a zone)",
            examples=["2026-11-25T00:00:00Z"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    cursor: Annotated[str | None, cursor_query("next_cursor of the previous page")] = None,
) -> Response:
    """Items in id order, filtered; follow `next_cursor` for the next page."""
    filters = ItemFilter(
        agency=agency,
        power_type=power_type,
        status=status,
        q=q,
        local_code=local_code,
        updated_since=updated_since,
    )
    page = await items.list_items(
        session, filters=filters, limit=limit, cursor=cursor, secret=settings.cursor_secret
    )
    return model_response(page, next_link(request, page.next_cursor))


@router.get(
    "/by-code/{local_code}",
    response_model=ItemRead,
    summary="Get an item by its local code",
    responses={
        200: {
            "description": "the item; ETag names it and its version",
            "headers": CODE_ETAG_HEADER,
            "links": ITEM_LINKS,
        },
        304: {**NOT_MODIFIED[304], "headers": CODE_ETAG_HEADER},
        **PROBLEM_RESPONSES,
        404: problem_doc("no item carries this code"),
        409: problem_doc("several items carry this code; `candidates` lists them"),
    },
)
async def get_item_by_code(
    session: ReadSessionDep,
    local_code: Annotated[
        str,
        Path(
            min_length=31,
            max_length=33,
            pattern=CODE_LOOKUP_PATTERN,
            description="地方权力编码 (letters in either case)",
            examples=["11620621MB176555834620236001000"],
        ),
    ],
    sub_code: Annotated[
        str | None,
        Query(
            min_length=31,
            max_length=33,
            pattern=CODE_LOOKUP_PATTERN,
            description="子项地方权力编码 (letters in either case)",
        ),
    ] = None,
    if_none_match: Annotated[str | None, Header(max_length=IF_NONE_MATCH_MAX_LENGTH)] = None,
    release: Annotated[
        str | None, _release_query("look the code up as this release published the catalogue")
    ] = None,
) -> Response:
    """The item with this local code (and sub-item code); 409 lists candidates when ambiguous.

    With `release`, the item that carried the code in that release, as the release published it.
    """
    if release is not None:
        item: ItemRead | dict[str, Any] = await releases.get_item_in_release_by_code(
            session, release_name=release, local_code=local_code, sub_code=sub_code
        )
    else:
        item = await items.get_document_by_code(session, local_code=local_code, sub_code=sub_code)
    return item_response(item, if_none_match, by_code=True)


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    summary="Get an item",
    responses={
        **ITEM_OK,
        **PROBLEM_RESPONSES,
        **NOT_FOUND,
        **NOT_MODIFIED,
    },
)
async def get_item(
    session: ReadSessionDep,
    item_id: ItemId,
    if_none_match: Annotated[str | None, Header(max_length=IF_NONE_MATCH_MAX_LENGTH)] = None,
    release: Annotated[
        str | None, _release_query("read the item as this release published it")
    ] = None,
) -> Any:
    """The item's current state (or as a release published it), with its version as ETag."""
    if release is not None:
        item = await releases.get_item_in_release(session, release_name=release, item_id=item_id)
    else:
        item = await items.get(session, item_id=item_id)
    return item_response(item, if_none_match, by_code=False)


@router.post(
    "",
    response_model=ItemRead,
    status_code=201,
    summary="Create an item",
    responses={
        201: {
            "description": "created at version 1",
            "headers": {
                **ETAG_HEADER,
                "Location": {
                    "description": "the new item's URL",
                    "schema": {"type": "string", "examples": ["/api/v1/items/38"]},
                },
            },
            "links": ITEM_LINKS,
        },
        **WRITE_PROBLEM_RESPONSES,
        **CHANGE_REFUSED,
    },
)
async def create_item(
    session: SessionDep, body: ItemCreate, actor: ActorDep, response: Response
) -> ItemRead:
    """Add an item at version 1; Location and ETag name it."""
    with write_transaction():
        item = await items.create(session, data=body, actor=_reason(body.reason, actor))
    response.headers["Location"] = f"/api/v1/items/{item.id}"
    return _with_etag(item, response)


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    summary="Update an item",
    responses={**ITEM_OK, **WRITE_RESPONSES},
)
async def update_item(
    session: SessionDep,
    item_id: ItemId,
    body: ItemUpdate,
    expected: IfMatchDep,
    actor: ActorDep,
    response: Response,
) -> ItemRead:
    """Change fields of the version named by If-Match; 412 when someone changed it first."""
    with write_transaction():
        item = await items.update(
            session,
            item_id=item_id,
            expected_version=expected,
            data=body,
            actor=_reason(body.reason, actor),
        )
    return _with_etag(item, response)


@router.delete(
    "/{item_id}",
    response_model=ItemRead,
    summary="Withdraw an item",
    responses={
        200: {
            "description": "the item, withdrawn; ETag is its version",
            "headers": ETAG_HEADER,
            "links": {**ITEM_LINKS, **RESTORE_LINK},
        },
        **WRITE_RESPONSES,
    },
)
async def withdraw_item(
    session: SessionDep,
    item_id: ItemId,
    expected: IfMatchDep,
    actor: ActorDep,
    response: Response,
    body: Annotated[StatusChange | None, Body()] = None,
) -> ItemRead:
    """Withdraw the item (status withdrawn); its history is kept and it can be restored."""
    return await _set_status(
        session, item_id, expected, actor, body, response, ItemStatus.WITHDRAWN
    )


@router.post(
    "/{item_id}/restore",
    response_model=ItemRead,
    summary="Restore a withdrawn item",
    responses={**ITEM_OK, **WRITE_RESPONSES},
)
async def restore_item(
    session: SessionDep,
    item_id: ItemId,
    expected: IfMatchDep,
    actor: ActorDep,
    response: Response,
    body: Annotated[StatusChange | None, Body()] = None,
) -> ItemRead:
    """Make a withdrawn item active again (a new version)."""
    return await _set_status(session, item_id, expected, actor, body, response, ItemStatus.ACTIVE)


async def _set_status(
    session: AsyncSession,
    item_id: int,
    expected: frozenset[int] | None,
    actor: Actor,
    body: StatusChange | None,
    response: Response,
    status: ItemStatus,
) -> ItemRead:
    with write_transaction():
        item = await items.set_status(
            session,
            item_id=item_id,
            expected_version=expected,
            status=status,
            actor=_reason(body.reason if body else None, actor),
        )
    return _with_etag(item, response)


@router.get(
    "/{item_id}/revisions",
    response_model=list[ItemRevisionRead],
    summary="List an item's revisions",
    responses={**PROBLEM_RESPONSES, **NOT_FOUND},
)
async def list_item_revisions(session: ReadSessionDep, item_id: ItemId) -> list[ItemRevisionRead]:
    """Every revision, oldest first: version, time, actor, reason, changed fields, full state."""
    return await items.list_revisions(session, item_id=item_id)


@router.get(
    "/{item_id}/revisions/{version}",
    response_model=ItemRevisionRead,
    summary="Get one revision",
    responses={**PROBLEM_RESPONSES, 404: problem_doc("no such item or version")},
)
async def get_item_revision(
    session: ReadSessionDep, item_id: ItemId, version: Version
) -> ItemRevisionRead:
    """The item as it was at `version`."""
    return await items.get_revision(session, item_id=item_id, version=version)


@router.get(
    "/{item_id}/diff",
    response_model=ItemDiff,
    summary="Diff two versions",
    responses={**PROBLEM_RESPONSES, 404: problem_doc("no such item or version")},
)
async def diff_item_versions(
    session: ReadSessionDep,
    item_id: ItemId,
    from_: Annotated[int, Query(alias="from", ge=1, le=2_147_483_647)],
    to: Annotated[int, Query(ge=1, le=2_147_483_647)],
) -> ItemDiff:
    """Field-level changes from one version to another."""
    return await items.diff(session, item_id=item_id, from_version=from_, to_version=to)
