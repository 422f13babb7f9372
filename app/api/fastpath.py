"""GET /api/v1/items/by-code/{code} without FastAPI's machinery, for plain lookups.

Lookup by code is what integrators hammer, and measured (docs/performance.md) most of its time
went neither to the query nor to the JSON but to the framework around them: solving the route's
dependency tree (principal, settings, session, read session, each with its parameter checks) and
the ORM session's begin, connection and commit. The target is a lookup at 0.6 × the rate of a
bare driver-and-JSON responder, which leaves no room for that.

So a plain lookup, the overwhelming case, is answered by this layer, placed just inside the edge
(request id, headers, rate limit, timeout: app/api/middleware.py) and ahead of the rest of the
stack and of routing: GET, no `release`, no parameter this path does not read, a code and
sub-item code the schema accepts, at most one If-None-Match of legal size, and either no key
(reads open to the public) or one bearer token. A token is checked here by one query on the
lookup's connection (the live key's scope; the rate limiter is told the key, as get_principal
tells it); a token that does not verify is passed on to the rest of the stack, where the
documented route answers as it always has. Behind a replica (POWERCAT_READ_DATABASE_URL) the key
is checked on the primary, where revocations land first, through a second driver pool; a read
key's lookup then reads the replica and a writing key's the primary, as the documented route
routes them. It runs the documented route's query and response builder (`item_response`) as a
plain ASGI handler: on PostgreSQL on a connection of a bare asyncpg pool made on the read side's
database (`engine.create_driver_pool`: SQLAlchemy's async checkout alone was a fifth of a
lookup), on SQLite on one pooled connection of the read engine. Its errors are the same
exceptions, turned into the same problems by the app's handlers; the pool's lost or unobtainable
connections become the 503 that SQLAlchemy's would (tests/api/test_faults.py); those handlers
are applied here as Starlette's ExceptionMiddleware applies them for every route. Everything
else passes on to the rest of the stack and `app/api/routes/items.py:get_item_by_code`, whose
dependencies check keys, parameters and reader access as for every other route; so do tests that
override dependencies. tests/api/test_lookup_fast_path.py holds the two answers equal, case by
case. The edge and CORS wrap both alike.

Why a layer and not a route ahead of the others, as this was: a route is reached through
Starlette's exception layer, FastAPI's exit-stack layer and the router's matching; with the
edge's four layers and its per-request timer they were about a seventh of a lookup
(docs/performance.md, The edge and the fast layer).
"""

from __future__ import annotations

import inspect
import re
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import CACHE_BUSTER
from app.api.etags import IF_NONE_MATCH_MAX_LENGTH
from app.api.responses import item_response
from app.enums import KeyScope
from app.schemas.items import CODE_LOOKUP_PATTERN
from app.services import items, keys
from app.settings import get_settings

PATH = "/api/v1/items/by-code/{local_code}"
# (code, sub-item code, If-None-Match, bearer token) of a plain lookup
Lookup = tuple[str, str | None, str | None, str | None]
_CODE = re.compile(CODE_LOOKUP_PATTERN)


class FastLookup:
    """Answers the plain lookups of PATH; every other request goes on to `app`, the rest of the
    stack."""

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        self._fastapi = fastapi
        # Matches PATH as the documented route does; its endpoint is never called.
        self._path = Route(PATH, _never_called, methods=["GET"])
        # The documented route, named in the scope of the lookups answered here as the router
        # names it for its own: the edge's metrics count both alike (app/api/metrics.py).
        self._route = next(
            context.original_route
            for context in iter_route_contexts(fastapi.routes)
            if context.path_format == PATH and "GET" in (context.methods or ())
        )
        # The app's exception handlers, as FastAPI gives them to the ExceptionMiddleware around
        # its routes (500 and Exception are the outermost layer's; the edge answers those).
        self._handlers = {
            kind: handler
            for kind, handler in fastapi.exception_handlers.items()
            if kind not in (500, Exception)
        }
        # Applied below as Starlette applies them, for handlers as app/api/problems.py makes
        # them: by exception class, async, returning a response. Anything else must not be
        # half-served here.
        for kind, handler in self._handlers.items():
            if not (isinstance(kind, type) and inspect.iscoroutinefunction(handler)):
                raise TypeError(f"the lookup's fast layer cannot apply the handler for {kind!r}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lookup = self._lookup(scope) if scope["type"] == "http" else None
        if lookup is None or not await self.answer(scope, receive, send, lookup):
            await self.app(scope, receive, send)

    def _lookup(self, scope: Scope) -> Lookup | None:
        if "/items/by-code/" not in scope["path"]:
            return None
        match, child = self._path.matches(scope)
        if match is not Match.FULL:
            return None
        return self._plain(scope, child["path_params"]["local_code"])

    def _plain(self, scope: Scope, code: str) -> Lookup | None:
        """(code, sub_code, If-None-Match, bearer token) of a plain lookup; None for anything
        else."""
        if scope["method"] != "GET" or self._fastapi.dependency_overrides:
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
        query = scope["query_string"]
        if not query:
            return code, None, if_none_match, token
        try:
            pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        # The cache-buster selects nothing (deps.CACHE_BUSTER): a jQuery lookup is a plain one.
        pairs = [pair for pair in pairs if pair[0] != CACHE_BUSTER]
        if not pairs:
            return code, None, if_none_match, token
        if len(pairs) == 1 and pairs[0][0] == "sub_code" and _CODE.fullmatch(pairs[0][1]):
            return code, pairs[0][1], if_none_match, token
        return None

    async def answer(self, scope: Scope, receive: Receive, send: Send, lookup: Lookup) -> bool:
        """Answer `lookup`; False, having sent nothing, when its key does not verify: the 401
        is the documented route's to answer."""
        # Plain ASGI, not a request/response endpoint: no Request object (unless an error needs
        # one for its handler) and no exception wrapper around `send`.
        code, sub_code, if_none_match, token = lookup
        try:
            document = await self._read(scope["state"], code, sub_code, token)
        except Exception as exc:
            self._answered(scope)
            handler = self._handler_for(exc)
            if handler is None:
                raise
            # Nothing was sent yet: the problem, as the app's handler makes it for any route.
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            exc.__traceback__ = None  # as Starlette does: a reused exception keeps no frames
            return True
        if document is None:
            return False
        self._answered(scope)
        await item_response(document, if_none_match, by_code=True)(scope, receive, send)
        return True

    async def _read(
        self, state: dict[str, Any], code: str, sub_code: str | None, token: str | None
    ) -> dict[str, Any] | None:
        """The item's document; None when `token` does not verify. Raises what the documented
        route's service calls raise (not found, ambiguous code, database unavailable)."""
        timeout = state["lookup_pool_timeout"]
        if token is None or state["read_engine"] is None:
            return await _document(
                state["lookup_engine"], state["lookup_pool"], timeout, code, sub_code, token
            )
        # Behind a replica the key is checked on the primary, where a revocation lands first (a
        # lagging replica would still honour a revoked key). A read key's lookup then reads the
        # replica; a key that may write reads the primary, its own writes, as the documented
        # route does (deps._reads_replica).
        return await _document(
            state["primary_engine"],
            state["primary_pool"],
            timeout,
            code,
            sub_code,
            token,
            readers_to=(state["lookup_engine"], state["lookup_pool"]),
        )

    def _answered(self, scope: Scope) -> None:
        scope["route"] = self._route
        scope["endpoint"] = getattr(self._route, "endpoint", None)

    def _handler_for(self, exc: Exception) -> Any:
        """The app's handler for `exc`, found as Starlette's ExceptionMiddleware finds it (by
        the exception's classes, nearest first); None for errors left to the outer layers."""
        for kind in type(exc).__mro__:
            if kind in self._handlers:
                return self._handlers[kind]
        return None


async def _document(
    engine: AsyncEngine,
    pool: asyncpg.Pool | None,
    pool_timeout: float,
    code: str,
    sub_code: str | None,
    token: str | None,
    readers_to: tuple[AsyncEngine, asyncpg.Pool | None] | None = None,
) -> dict[str, Any] | None:
    """On one connection of `pool` (PostgreSQL) or `engine` (SQLite): the key of `token`, if
    any, checked, then the item's document; None when the token does not verify. With
    `readers_to`, a read key's document is read there instead (its key already checked)."""
    elsewhere = False
    if pool is None:  # SQLite
        async with engine.connect() as connection:
            if token is not None:
                found = await keys.read_scope_on(connection, token=token)
                if found is None:
                    return None
                elsewhere = readers_to is not None and found is KeyScope.READ
            if not elsewhere:
                return await items.get_document_by_code_on(
                    connection, local_code=code, sub_code=sub_code
                )
    else:
        try:
            async with pool.acquire(timeout=pool_timeout) as driver:
                if token is not None:
                    found = await keys.read_scope_on_driver(driver, engine.dialect, token=token)
                    if found is None:
                        return None
                    elsewhere = readers_to is not None and found is KeyScope.READ
                if not elsewhere:
                    return await items.get_document_by_code_on_driver(
                        driver, engine.dialect, local_code=code, sub_code=sub_code
                    )
        except _UNAVAILABLE as exc:
            # What SQLAlchemy would have wrapped as a lost connection or a pool timeout: the
            # same 503 problem (app/api/problems.py answers ConnectionError with it).
            raise ConnectionError(f"database unavailable: {type(exc).__name__}") from exc
    assert readers_to is not None
    return await _document(*readers_to, pool_timeout, code, sub_code, None)


async def _never_called(_scope: Scope, _receive: Receive, _send: Send) -> None:
    raise AssertionError("FastLookup answers by itself")


# A connection that cannot be had (refused, timed out, the pool's wait: TimeoutError is an
# OSError) or was lost mid-query.
_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)
