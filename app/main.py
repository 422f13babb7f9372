"""create_app(): lifespan-managed engine, routers, problem handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import __version__
from app.api import problems
from app.api.routes import api_router, docs, health
from app.db.engine import create_engine, create_sessionmaker
from app.settings import Settings, get_settings

DESCRIPTION = """\
powercat keeps a standardized catalogue of government power items (权力事项 / 权责清单):
each item with its local power code (地方权力编码), power type, exercising body, legal basis,
responsibilities and accountability clauses. Reads are public; writes need an API key.
Errors are RFC 9457 `application/problem+json` documents with a stable `code`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app; nothing connects until the lifespan starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings)
        try:
            yield {"engine": engine, "sessionmaker": create_sessionmaker(engine)}
        finally:
            await engine.dispose()

    app = FastAPI(
        title="powercat",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses={500: problems.PROBLEM_RESPONSES[500]},
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(api_router())
    docs.install(app)
    return app
