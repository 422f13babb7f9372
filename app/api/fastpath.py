"""GET /api/v1/items/by-code/{code} without FastAPI's dependency machinery, for plain lookups.

Lookup by code is what integrators hammer, and measured (docs/performance.md) most of its time
went neither to the query nor to the JSON but to the framework around them: solving the route's
dependency tree (principal, settings, session, read session, each with its parameter checks) and
the ORM session's begin, connection and commit. The target is a lookup at 0.6 × the rate of a
bare driver-and-JSON responder, which leaves no room for that.

So a plain lookup, the overwhelming case, is answered by this route, placed ahead of the
documented one: GET, no key, reads open to the public, no `release`, no parameter this path does
not read, a code and sub-item code the schema accepts, at most one If-None-Match of legal size.
It runs the very service function (`items.get_by_code_on`) and response builder (`item_response`)
of the documented route, on one pooled connection of the read engine, and its errors are the
same exceptions, turned into the same problems by the app's handlers. Everything else matches
nothing here and falls through to `app/api/routes/items.py:get_item_by_code`, whose dependencies
check keys, parameters and reader access as for every other route; so do tests that override
dependencies. tests/api/test_lookup_fast_path.py holds the two answers equal, case by case.
The middleware (request id, timeout, rate limit, body size, CORS) wraps both alike.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Match, Route
from starlette.types import Scope

from app.api.etags import IF_NONE_MATCH_MAX_LENGTH
from app.api.responses import item_response
from app.schemas.items import CODE_PATTERN
from app.services import items
from app.settings import get_settings

PATH = "/api/v1/items/by-code/{local_code}"
_CODE = re.compile(CODE_PATTERN)


class FastLookupRoute(Route):
    """The plain lookups of PATH; any other request to it goes on to the documented route."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(PATH, self.lookup, methods=["GET"], include_in_schema=False)
        self._app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL or not self._plain(scope, child["path_params"]["local_code"]):
            return Match.NONE, {}
        return match, child

    def _plain(self, scope: Scope, code: str) -> bool:
        # POWERCAT_PUBLIC_READ as require_reader reads it: the process-wide settings.
        public = get_settings().public_read
        if scope["method"] != "GET" or not public or self._app.dependency_overrides:
            return False
        if not _CODE.fullmatch(code):
            return False
        if_none_match = 0
        for name, value in scope["headers"]:
            if name == b"authorization":
                return False
            if name == b"if-none-match":
                if_none_match += 1
                if if_none_match > 1 or len(value) > IF_NONE_MATCH_MAX_LENGTH:
                    return False
        query = scope["query_string"]
        if not query:
            return True
        try:
            pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return False
        return (
            len(pairs) == 1
            and pairs[0][0] == "sub_code"
            and _CODE.fullmatch(pairs[0][1]) is not None
        )

    async def lookup(self, request: Request) -> Response:
        engine: AsyncEngine = request.state.lookup_engine
        async with engine.connect() as connection:
            item = await items.get_by_code_on(
                connection,
                local_code=request.path_params["local_code"],
                sub_code=request.query_params.get("sub_code"),
            )
        return item_response(item, request.headers.get("if-none-match"), by_code=True)


def install(app: FastAPI) -> None:
    """Put the fast route ahead of every other route of the app."""
    app.router.routes.insert(0, FastLookupRoute(app))
