"""create_app(): lifespan-managed engine, routers, problem handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api import fastpath, metrics, problems
from app.api.middleware import EdgeMiddleware
from app.api.routes import api_router, docs, health
from app.db.engine import (
    create_driver_pool,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    reads_engine,
)
from app.settings import Settings, get_settings

DESCRIPTION = """\
powercat keeps a standardized catalogue of government power items (权力事项 / 权责清单):
each item with its local power code (地方权力编码), power type, exercising body, legal basis,
responsibilities and accountability clauses. Reads are public; writes need an API key.
Errors are RFC 9457 `application/problem+json` documents with a stable `code`. A query
parameter an operation does not list, or a parameter given twice, is a 422 (`_`, a
cache-buster, is let through; `Prefer: handling=lenient` has them ignored). Listings page by
an opaque cursor and send `Link: <…>; rel="next"` while there is a next page.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app; nothing connects until the lifespan starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Whatever was made is unmade, in reverse, however far the start-up got.
        async with AsyncExitStack() as made:
            # Under several workers, one that stops takes its in-progress figure with it.
            made.callback(metrics.forget_this_process)
            engine = create_engine(settings, pooled=True)
            made.push_async_callback(engine.dispose)
            read_engine = None
            if settings.read_database_url:
                read_engine = create_engine(
                    settings, url=settings.read_database_url, read_only=True, pooled=True
                )
                made.push_async_callback(read_engine.dispose)
            # Everything alive now (modules, the app, its routes and schemas, the engines) lives
            # as long as the process: freeze it out of the collector's reach. Without this a full
            # collection walks ~130,000 such objects, and one fell inside a request every few
            # pages of the change feed, adding 80-90 ms to it (docs/performance.md).
            gc.collect()
            gc.freeze()
            made.callback(gc.unfreeze)
            lookup_engine = read_engine or engine
            lookup_pool = await create_driver_pool(
                lookup_engine, settings, read_only=read_engine is not None
            )
            if lookup_pool is not None:
                made.push_async_callback(lookup_pool.close)
            # Behind a replica the fast path checks keys on the primary (app/api/fastpath.py).
            primary_pool = lookup_pool
            if read_engine is not None:
                primary_pool = await create_driver_pool(engine, settings, read_only=False)
                if primary_pool is not None:
                    made.push_async_callback(primary_pool.close)
            yield {
                "engine": engine,
                "sessionmaker": create_sessionmaker(engine),
                "reads_sessionmaker": create_read_sessionmaker(engine),
                "read_engine": read_engine,
                "read_sessionmaker": read_engine and create_sessionmaker(read_engine),
                "replica_reads_sessionmaker": read_engine and create_read_sessionmaker(read_engine),
                # The lookup's fast path (app/api/fastpath.py) reads here, as public reads do.
                "lookup_engine": reads_engine(lookup_engine),
                "lookup_pool": lookup_pool,
                "lookup_pool_timeout": settings.db_pool_timeout_s,
                "primary_engine": reads_engine(engine),
                "primary_pool": primary_pool,
            }

    app = FastAPI(
        title="powercat",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses={500: problems.PROBLEM_RESPONSES[500]},
        # Operation ids are the route functions' names (`list_items`, `get_item_by_code`, …):
        # readable, and stable as long as the functions keep their names.
        generate_unique_id_function=lambda route: route.name,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(api_router())
    docs.install(app)
    _install_middleware(app, settings)
    return app


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """CORS, then the edge (request id and headers, URL check, rate limit, body size, timeout),
    then the lookup's fast layer, then FastAPI's own. The last added runs first.

    CORS is outermost so that the edge's own answers (429 with Retry-After, 413, 503) carry its
    headers too: a browser cannot read an answer without them. Preflights are answered there,
    before the edge, as they carry no request to limit."""

    def limit_for(path: str) -> int:
        # Uploads are files; everything else is a JSON document.
        return settings.max_upload_bytes if path.endswith("/imports") else settings.max_body_bytes

    app.add_middleware(fastpath.FastLookup, fastapi=app)
    app.add_middleware(
        EdgeMiddleware,
        per_minute=settings.rate_limit_per_minute,
        timeout_s=settings.request_timeout_s,
        limit_for=limit_for,
        fastapi=app,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Prefer",
                "X-Change-Reason",
                "X-Request-ID",
            ],
            # Link: a page's rel="next", the only way on through /audit.
            expose_headers=["ETag", "Link", "Location", "Retry-After", "X-Request-ID"],
        )
