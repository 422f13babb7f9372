"""Run the real app with its lifespan under httpx, as a server would (ASGITransport skips it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send


class LifespanClient(httpx.AsyncClient):
    """An httpx client for an app whose lifespan runs; `state` is what the lifespan yielded."""

    state: dict[str, Any]


@asynccontextmanager
async def lifespan_client(
    app: FastAPI, headers: dict[str, str] | None = None
) -> AsyncIterator[LifespanClient]:
    async with app.router.lifespan_context(app) as state:
        lifespan_state: dict[str, Any] = dict(state or {})

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                # Servers copy the lifespan state into each request's scope; so do we.
                scope = {**scope, "state": dict(lifespan_state)}
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
        async with LifespanClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as c:
            c.state = lifespan_state
            yield c
