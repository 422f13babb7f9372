"""Request dependencies: the session (committed before the response), settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.settings import Settings, get_settings


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request; it commits before the response is sent (scope=function)."""
    maker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    async with maker() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
