"""Responses serialised once, for the hot reads.

A model returned to FastAPI from a route with a response_model is validated against that model
again before it is dumped. For models the service has just built with model_validate, that second
pass costs as much as the rest of a lookup, and more for a page of 1,000 feed entries. These routes
return the dumped JSON instead; their response_model still documents it in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request, Response
from pydantic import BaseModel

from app.api.etags import code_etag, item_etag, not_modified
from app.schemas.items import CURSOR_PATTERN, ItemRead
from app.services.cursors import MAX_CURSOR_LENGTH

# The Link header of a paginated listing, for its OpenAPI `responses` entry.
NEXT_LINK_HEADER = {
    "Link": {
        "description": 'RFC 8288 `<…>; rel="next"`: this URL with the next page\'s cursor, when '
        "there is a next page; a client can follow it without reading the body",
        "schema": {"type": "string"},
    }
}


def cursor_query(description: str) -> Any:
    """The query parameter that takes a listing's cursor back: opaque, and refused as invalid
    (400) when it is too long or holds characters no cursor has (problems.CURSOR_PARAMETERS)."""
    return Query(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN, description=description)


def next_link(request: Request, cursor: str | None, *, parameter: str = "cursor") -> dict[str, str]:
    """The `Link: <…>; rel="next"` header of a page: the request's own path and query (its
    filters and limit kept) with `parameter` set to `cursor`; none when `cursor` is None."""
    if cursor is None:
        return {}
    query = [(k, v) for k, v in request.query_params.multi_items() if k != parameter]
    query.append((parameter, cursor))
    return {"Link": f'<{request.url.path}?{urlencode(query)}>; rel="next"'}


def model_response(model: BaseModel, headers: Mapping[str, str] | None = None) -> Response:
    """`model` as application/json, as FastAPI would have written it."""
    return Response(
        content=model.model_dump_json(by_alias=True), media_type="application/json", headers=headers
    )


def item_response(
    item: ItemRead | dict[str, Any], if_none_match: str | None, *, by_code: bool
) -> Response:
    """304 when If-None-Match names this version, else the item as JSON, serialised once.

    `item` is a model, or Item data as the lookups read it (items.get_document_by_code_on),
    which orjson writes as the model would: no validation on the hottest read.
    """
    if isinstance(item, dict):
        item_id, version = item["id"], item["version"]
    else:
        item_id, version = item.id, item.version
    etag = code_etag(item_id, version) if by_code else item_etag(version)
    if not_modified(if_none_match, item_id, version, by_code=by_code):
        return Response(status_code=304, headers={"ETag": etag})
    if isinstance(item, dict):
        body = orjson.dumps(item, option=orjson.OPT_UTC_Z)
        return Response(content=body, media_type="application/json", headers={"ETag": etag})
    return model_response(item, {"ETag": etag})
