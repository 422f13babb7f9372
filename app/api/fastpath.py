"""GET /api/v1/items/by-code/{code} without FastAPI's dependency machinery, for plain lookups.

Lookup by code is what integrators hammer, and measured (docs/performance.md) most of its time
went neither to the query nor to the JSON but to the framework around them: solving the route's
dependency tree (principal, settings, session, read session, each with its parameter checks) and
the ORM session's begin, connection and commit. The target is a lookup at 0.6 × the rate of a
bare driver-and-JSON responder, which leaves no room for that.

So a plain lookup, the overwhelming case, is answered by this route, placed ahead of the
documented one: GET, no `release`, no parameter this path does not read, a code and sub-item code
the schema accepts, at most one If-None-Match of legal size, and either no key (reads open to the
public) or one bearer token and no replica. A token is checked here by one query on the
lookup's connection (the live key's scope; the rate limiter is told the key, as get_principal
tells it); a token that does not verify is passed on to the documented route, which answers as
it always has. Behind a replica (POWERCAT_READ_DATABASE_URL) keyed lookups stay with the
documented route: it checks keys on the primary, where revocations land first.
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
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from app.api.etags import IF_NONE_MATCH_MAX_LENGTH
from app.api.responses import item_response
from app.schemas.items import CODE_PATTERN
from app.services import items, keys
from app.settings import get_settings

PATH = "/api/v1/items/by-code/{local_code}"
SCOPE_KEY = "powercat.lookup"  # what matches() read of a plain lookup, for handle()
DECLINED_KEY = "powercat.lookup.declined"  # handle() passed the request on: match nothing now
# (code, sub-item code, If-None-Match, bearer token) of a plain lookup
Lookup = tuple[str, str | None, str | None, str | None]
_CODE = re.compile(CODE_PATTERN)


class FastLookupRoute(Route):
    """The plain lookups of PATH; any other request to it goes on to the documented route."""

    def __init__(self, app: FastAPI) -> None:
        # handle() below answers by itself; the endpoint Route would wrap is never called.
        super().__init__(PATH, self.handle, methods=["GET"], include_in_schema=False)
        self._app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(DECLINED_KEY):
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        lookup = self._plain(scope, child["path_params"]["local_code"])
        if lookup is None:
            return Match.NONE, {}
        return match, {**child, SCOPE_KEY: lookup}

    def _plain(self, scope: Scope, code: str) -> Lookup | None:
        """(code, sub_code, If-None-Match, bearer token) of a plain lookup; None for anything
        else."""
        if scope["method"] != "GET" or self._app.dependency_overrides:
            return None
        if not _CODE.fullmatch(code):
            return None
        if_none_match: str | None = None
        token: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                # A bearer token as get_principal reads one; anything else (another scheme, no
                # token, the header twice) is the documented route's to refuse.
                if token is not None:
                    return None
                token = keys.bearer_token(value.decode("latin-1"))
                if token is None:
                    return None
            if name == b"if-none-match":
                if if_none_match is not None or len(value) > IF_NONE_MATCH_MAX_LENGTH:
                    return None
                if_none_match = value.decode("latin-1")
        # POWERCAT_PUBLIC_READ as require_reader reads it: the process-wide settings. Closed to
        # the public, a lookup without a key is the documented route's 401.
        if token is None and not get_settings().public_read:
            return None
        # Behind a replica this route reads the replica, but keys are checked on the primary,
        # where a revocation lands first (a lagging replica would still honour a revoked key).
        if token is not None and scope.get("state", {}).get("read_engine") is not None:
            return None
        query = scope["query_string"]
        if not query:
            return code, None, if_none_match, token
        try:
            pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        if len(pairs) == 1 and pairs[0][0] == "sub_code" and _CODE.fullmatch(pairs[0][1]):
            return code, pairs[0][1], if_none_match, token
        return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Plain ASGI, not a request/response endpoint: no Request object and no per-route
        # exception wrapper around `send`. The service's errors go on to the app's
        # ExceptionMiddleware, whose handlers make the same problems.
        code, sub_code, if_none_match, token = scope[SCOPE_KEY]
        state = scope["state"]
        engine: AsyncEngine = state["lookup_engine"]
        pool: asyncpg.Pool | None = state["lookup_pool"]
        document: dict[str, Any] | None = None
        if pool is None:  # SQLite
            async with engine.connect() as connection:
                if token is None or await keys.read_scope_on(connection, token=token):
                    document = await items.get_document_by_code_on(
                        connection, local_code=code, sub_code=sub_code
                    )
        else:
            try:
                async with pool.acquire(timeout=state["lookup_pool_timeout"]) as driver:
                    if token is None or await keys.read_scope_on_driver(
                        driver, engine.dialect, token=token
                    ):
                        document = await items.get_document_by_code_on_driver(
                            driver, engine.dialect, local_code=code, sub_code=sub_code
                        )
            except _UNAVAILABLE as exc:
                # What SQLAlchemy would have wrapped as a lost connection or a pool timeout:
                # the same 503 problem (app/api/problems.py answers ConnectionError with it).
                raise ConnectionError(f"database unavailable: {type(exc).__name__}") from exc
        if document is None:
            await self.decline(scope, receive, send)
            return
        await item_response(document, if_none_match, by_code=True)(scope, receive, send)

    async def decline(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request on to the documented route, as if this route had not matched it: a
        key that did not verify, whose 401 is that route's to answer."""
        scope[DECLINED_KEY] = True
        await self._app.router(scope, receive, send)


# A connection that cannot be had (refused, timed out, the pool's wait: TimeoutError is an
# OSError) or was lost mid-query.
_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


def install(app: FastAPI) -> None:
    """Put the fast route ahead of every other route of the app."""
    app.router.routes.insert(0, FastLookupRoute(app))
