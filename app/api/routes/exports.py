"""Exports: the catalogue (now or as released, all or one agency) streamed in four formats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.api.deps import ReadSessionDep, ReadSessionmakerDep
from app.api.middleware import HEAD_REQUEST
from app.api.problems import PROBLEM_RESPONSES, problem_doc
from app.schemas.items import ItemRead
from app.schemas.releases import RELEASE_NAME_PATTERN
from app.services import exports

router = APIRouter(tags=["exports"])

MEDIA_TYPES: dict[exports.ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
}


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the export, streamed; withdrawn items included with status withdrawn",
        # application/json is the array of Item documents `model` describes.
        "model": list[ItemRead],
        "content": {
            "text/csv": _BINARY,
            MEDIA_TYPES["xlsx"]: _BINARY,
            MEDIA_TYPES["ndjson"]: {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/exports",
    summary="Export the catalogue",
    response_class=StreamingResponse,
    responses={
        **_OK,
        **PROBLEM_RESPONSES,
        404: problem_doc("no such release or agency"),
    },
)
async def export_items(
    request: Request,
    session: ReadSessionDep,
    # A streamed body outlives the request's session, so it opens its own from this maker.
    maker: ReadSessionmakerDep,
    format: Annotated[
        exports.ExportFormat, Query(description="csv (UTF-8 with BOM), xlsx, json or ndjson")
    ],
    release: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=RELEASE_NAME_PATTERN,
            description="the items as this release published them (default: now)",
        ),
    ] = None,
    agency: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="only this agency's items")
    ] = None,
) -> StreamingResponse:
    """Every item in id order, in a file `powercat import` reads back; see docs/exports.md."""
    export = exports.ExportRequest(format=format, release=release, agency_id=agency)
    # Unknown release or agency: a 404 problem now, not a broken download later.
    await exports.check(session, export)
    # A HEAD gets the GET's status and headers without the export being made (an XLSX one is
    # built whole before its first byte).
    body = _nothing() if request.scope.get(HEAD_REQUEST) else exports.export(maker, export)
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{exports.file_name(export)}"',
        },
    )


async def _nothing() -> AsyncIterator[bytes]:
    """The body of a HEAD: one empty chunk, which ends it."""
    yield b""
