"""API keys: random bearer tokens shown once, stored as hashes, with a scope and agencies."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.driver import DriverQuery
from app.enums import KeyScope
from app.errors import InvalidInputError, NotFoundError
from app.models import Agency, ApiKey, ApiKeyAgency
from app.models.types import utcnow
from app.services import audit, reference
from app.services.revisions import Actor

TOKEN_PREFIX = "pck_"
# Who creates keys when the caller names nobody: setup code such as test fixtures.
SETUP_ACTOR = Actor("setup")


@dataclass(slots=True)
class Verification:
    """Filled by authenticate(): the key a token proved to be, for whoever opened the scope."""

    key_id: int | None = None


# The HTTP rate limiter opens a scope per request, then buckets later requests with the same
# credentials on the key, not the address; only a token that verified ever gets a key's bucket.
_VERIFICATION: ContextVar[Verification | None] = ContextVar("powercat_key_check", default=None)


@contextmanager
def verification_scope() -> Iterator[Verification]:
    """Collect the key a bearer token verifies as, inside this block (and tasks it starts)."""
    found = Verification()
    token = _VERIFICATION.set(found)
    try:
        yield found
    finally:
        _VERIFICATION.reset(token)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    scope: str
    agencies: tuple[str, ...]
    created_at: str
    revoked_at: str | None


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


async def create(
    session: AsyncSession,
    *,
    name: str,
    scope: KeyScope,
    agency_names: list[str],
    actor: Actor = SETUP_ACTOR,
) -> tuple[KeyInfo, str]:
    """A new key and its token (the only time the token is ever seen), audited with `actor`.

    Raises:
        AgencyNotFoundError: an agency named does not exist.
        InvalidInputError: a bad name, agencies on a non-write key, none on a write key.
    """
    if not name.strip() or len(name) > 200:
        raise InvalidInputError("a key needs a name of 1 to 200 characters")
    if agency_names and scope != KeyScope.WRITE:
        raise InvalidInputError("only write keys are limited to agencies")
    if scope == KeyScope.WRITE and not agency_names:
        raise InvalidInputError("a write key needs at least one --agency (or use --scope admin)")
    agencies = [await reference.agency_by_name(session, agency) for agency in agency_names]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=token[:12], key_hash=hash_token(token), scope=scope)
    session.add(key)
    await session.flush()
    session.add_all(ApiKeyAgency(api_key_id=key.id, agency_id=a.id) for a in agencies)
    await session.flush()
    info = _info(key, [a.name for a in agencies])
    # The audit names the key by id and prefix; neither the token nor its hash is ever recorded.
    await audit.record(
        session,
        actor,
        action="api_key.create",
        target_type="api_key",
        target_id=key.id,
        change={
            "name": info.name,
            "prefix": info.prefix,
            "scope": info.scope,
            "agencies": list(info.agencies),
        },
    )
    return info, token


def _info(key: ApiKey, agencies: list[str]) -> KeyInfo:
    return KeyInfo(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scope=str(key.scope),
        agencies=tuple(agencies),
        created_at=key.created_at.isoformat(),
        revoked_at=key.revoked_at.isoformat() if key.revoked_at else None,
    )


async def list_keys(session: AsyncSession) -> list[KeyInfo]:
    keys = (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()
    links = (
        await session.execute(
            select(ApiKeyAgency.api_key_id, Agency.name).join(
                Agency, Agency.id == ApiKeyAgency.agency_id
            )
        )
    ).all()
    names: dict[int, list[str]] = {}
    for key_id, agency_name in links:
        names.setdefault(key_id, []).append(agency_name)
    return [_info(k, sorted(names.get(k.id, []))) for k in keys]


async def revoke(session: AsyncSession, *, key_id: int, actor: Actor = SETUP_ACTOR) -> KeyInfo:
    """Revoke a key; it stops working at once (every request looks it up). Audited with `actor`
    when it was active; revoking a revoked key changes and records nothing.

    Raises:
        NotFoundError: no key has that id.
    """
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            actor,
            action="api_key.revoke",
            target_type="api_key",
            target_id=key.id,
            change={
                "name": key.name,
                "prefix": key.prefix,
                "revoked_at": key.revoked_at.isoformat(),
            },
        )
    return _info(key, [])


# The scope of the live key with a token's hash: what a read needs to know of its key.
_LIVE_KEY = DriverQuery(
    cast(
        "Select[Any]",
        select(ApiKey.id, ApiKey.scope).where(
            ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
        ),
    )
)


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (scheme in any case, spaces around
    the token dropped); None for another scheme or no token."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _well_formed(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 200


def _live_scope(rows: list[dict[str, Any]]) -> KeyScope | None:
    if not rows:
        return None
    if (verification := _VERIFICATION.get()) is not None:
        verification.key_id = rows[0]["id"]
    return KeyScope(rows[0]["scope"])


async def read_scope_on(connection: AsyncConnection, *, token: str) -> KeyScope | None:
    """The scope of the live key a bearer token proves, None for none: what a read needs of a key
    (authenticate() also loads a key's agencies, for writes). On a connection of its own, as the
    lookup's fast route reads on SQLite."""
    if not _well_formed(token):
        return None
    return _live_scope(await _LIVE_KEY.fetch(connection, {"key_hash": hash_token(token)}))


async def read_scope_on_driver(driver: Any, dialect: Dialect, *, token: str) -> KeyScope | None:
    """read_scope_on, on a bare connection of the driver pool (the fast route's, on PostgreSQL)."""
    if not _well_formed(token):
        return None
    params = {"key_hash": hash_token(token)}
    return _live_scope(await _LIVE_KEY.fetch_on_driver(driver, dialect, params))


async def authenticate(session: AsyncSession, *, token: str) -> Actor | None:
    """The actor a bearer token stands for; None for an unknown or revoked token."""
    if not _well_formed(token):
        return None
    # The live key and its agencies in one round trip: a row per agency (one with none for a
    # key without), on every keyed request that is not a plain lookup.
    rows = (
        await session.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.scope, ApiKeyAgency.agency_id)
            .outerjoin(ApiKeyAgency, ApiKeyAgency.api_key_id == ApiKey.id)
            .where(ApiKey.key_hash == hash_token(token), ApiKey.revoked_at.is_(None))
        )
    ).all()
    if not rows:
        return None
    key = rows[0]
    if (verification := _VERIFICATION.get()) is not None:
        verification.key_id = key.id
    agency_ids = [row.agency_id for row in rows if row.agency_id is not None]
    return Actor(
        name=f"key:{key.id}:{key.name}",
        key_id=key.id,
        scope=str(key.scope),
        agency_ids=None if key.scope == KeyScope.ADMIN else frozenset(agency_ids),
    )
