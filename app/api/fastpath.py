"""GET /api/v1/items/by-code/{code} without FastAPI's dependency machinery, for plain lookups.

Lookup by code is what integrators hammer, and measured (docs/performance.md) most of its time
went neither to the query nor to the JSON but to the framework around them: solving the route's
dependency tree (principal, settings, session, read session, each with its parameter checks) and
the ORM session's begin, connection and commit. The target is a lookup at 0.6 × the rate of a
bare driver-and-JSON responder, which leaves no room for that.

So a plain lookup, the overwhelming case, is answered by this route, placed ahead of the
documented one: GET, no key, reads open to the public, no `release`, no parameter this path does
not read, a code and sub-item code the schema accepts, at most one If-None-Match of legal size.
It runs the documented route's query and response builder (`item_response`) as a plain ASGI
handler: on PostgreSQL on a connection of a bare asyncpg pool made on the read side's database
(`engine.create_driver_pool`: SQLAlchemy's async checkout alone was a fifth of a lookup), on
SQLite on one pooled connection of the read engine. Its errors are the same exceptions, turned
into the same problems by the app's handlers; the pool's lost or unobtainable connections become
the 503 that SQLAlchemy's would (tests/api/test_faults.py). Everything else matches
nothing here and falls through to `app/api/routes/items.py:get_item_by_code`, whose dependencies
check keys, parameters and reader access as for every other route; so do tests that override
dependencies. tests/api/test_lookup_fast_path.py holds the two answers equal, case by case.
The middleware (request id, timeout, rate limit, body size, CORS) wraps both alike.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from app.api.etags import IF_NONE_MATCH_MAX_LENGTH
from app.api.responses import item_response
from app.schemas.items import CODE_PATTERN
from app.services import items
from app.settings import get_settings

PATH = "/api/v1/items/by-code/{local_code}"
SCOPE_KEY = "powercat.lookup"  # what matches() read of a plain lookup, for handle()
_CODE = re.compile(CODE_PATTERN)


class FastLookupRoute(Route):
    """The plain lookups of PATH; any other request to it goes on to the documented route."""

    def __init__(self, app: FastAPI) -> None:
        # handle() below answers by itself; the endpoint Route would wrap is never called.
        super().__init__(PATH, self.handle, methods=["GET"], include_in_schema=False)
        self._app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        lookup = self._plain(scope, child["path_params"]["local_code"])
        if lookup is None:
            return Match.NONE, {}
        return match, {**child, SCOPE_KEY: lookup}

    def _plain(self, scope: Scope, code: str) -> tuple[str, str | None, str | None] | None:
        """(code, sub_code, If-None-Match) of a plain lookup; None for anything else."""
        # POWERCAT_PUBLIC_READ as require_reader reads it: the process-wide settings.
        public = get_settings().public_read
        if scope["method"] != "GET" or not public or self._app.dependency_overrides:
            return None
        if not _CODE.fullmatch(code):
            return None
        if_none_match: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                return None
            if name == b"if-none-match":
                if if_none_match is not None or len(value) > IF_NONE_MATCH_MAX_LENGTH:
                    return None
                if_none_match = value.decode("latin-1")
        query = scope["query_string"]
        if not query:
            return code, None, if_none_match
        try:
            pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        if len(pairs) == 1 and pairs[0][0] == "sub_code" and _CODE.fullmatch(pairs[0][1]):
            return code, pairs[0][1], if_none_match
        return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Plain ASGI, not a request/response endpoint: no Request object and no per-route
        # exception wrapper around `send`. The service's errors go on to the app's
        # ExceptionMiddleware, whose handlers make the same problems.
        code, sub_code, if_none_match = scope[SCOPE_KEY]
        engine: AsyncEngine = scope["state"]["lookup_engine"]
        pool: asyncpg.Pool | None = scope["state"]["lookup_pool"]
        if pool is None:  # SQLite
            async with engine.connect() as connection:
                document = await items.get_document_by_code_on(
                    connection, local_code=code, sub_code=sub_code
                )
        else:
            try:
                async with pool.acquire(timeout=scope["state"]["lookup_pool_timeout"]) as driver:
                    document = await items.get_document_by_code_on_driver(
                        driver, engine.dialect, local_code=code, sub_code=sub_code
                    )
            except _UNAVAILABLE as exc:
                # What SQLAlchemy would have wrapped as a lost connection or a pool timeout:
                # the same 503 problem (app/api/problems.py answers ConnectionError with it).
                raise ConnectionError(f"database unavailable: {type(exc).__name__}") from exc
        await item_response(document, if_none_match, by_code=True)(scope, receive, send)


# A connection that cannot be had (refused, timed out, the pool's wait: TimeoutError is an
# OSError) or was lost mid-query.
_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


def install(app: FastAPI) -> None:
    """Put the fast route ahead of every other route of the app."""
    app.router.routes.insert(0, FastLookupRoute(app))
