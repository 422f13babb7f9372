"""Request dependencies: the session (committed before the response), settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.errors import InvalidInputError, PreconditionRequiredError
from app.services.revisions import Actor
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


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names; None for `*`.

    Raises:
        PreconditionRequiredError: no If-Match header (428).
        InvalidInputError: a header that names no version this service issued.
    """
    if value is None or not value.strip():
        raise PreconditionRequiredError(
            'this write needs an If-Match header with the item\'s ETag, e.g. If-Match: "3"'
        )
    value = value.strip()
    if value == "*":
        return None
    tags = [t.strip() for t in value.split(",")]
    for tag in tags:
        # Strong comparison (RFC 9110 13.1.1): weak tags never match.
        if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit() and len(tag) < 12:
            return int(tag[1:-1])
    raise InvalidInputError(
        'If-Match must hold an ETag this service issued, e.g. "3"',
        details={"errors": [{"pointer": "/header/if-match", "message": "not a valid ETag"}]},
    )


def get_if_match(
    if_match: Annotated[str | None, Header(description='the item\'s ETag, e.g. "3"')] = None,
) -> int | None:
    return parse_if_match(if_match)


def get_actor(
    request: Request,
    x_change_reason: Annotated[
        str | None,
        Header(
            max_length=3000,
            description="why the change is made (audit); percent-encode non-ASCII text (UTF-8)",
        ),
    ] = None,
) -> Actor:
    """Who is writing and why; recorded with every revision."""
    # Header values are ASCII on the wire, so Chinese reasons arrive percent-encoded.
    reason = unquote(x_change_reason, errors="replace")[:1000] if x_change_reason else None
    return Actor(
        name="api",
        reason=reason,
        request_id=request.headers.get("x-request-id"),
    )


IfMatchDep = Annotated[int | None, Depends(get_if_match)]
ActorDep = Annotated[Actor, Depends(get_actor)]
