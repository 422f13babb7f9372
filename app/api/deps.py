"""Request dependencies: the session (committed before the response), settings."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext
from dataclasses import replace
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.api.etags import tagged_version
from app.api.middleware import PREFERENCE_APPLIED
from app.api.problems import FIELD_NAME, IF_MATCH_REQUIRED
from app.db.sqlite import write_transaction
from app.errors import (
    ForbiddenError,
    InvalidInputError,
    PreconditionRequiredError,
    UnauthorizedError,
)
from app.services import keys
from app.services.revisions import Actor
from app.settings import Settings, get_settings

# Every dependency is `async def`, even those that do no I/O: FastAPI runs a plain `def`
# dependency in the thread pool, and those hops cost a lookup more than its query does.


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request; it commits before the response is sent (scope=function).

    Requests that may write take SQLite's write lock at BEGIN: a read transaction that later
    writes (the key lookup comes first) could otherwise fail at once with "database is locked"
    instead of waiting its turn.
    """
    writes = request.method not in {"GET", "HEAD", "OPTIONS"}
    maker: async_sessionmaker[AsyncSession] = (
        request.state.sessionmaker if writes else request.state.reads_sessionmaker
    )
    with write_transaction() if writes else nullcontext():
        async with maker() as session, session.begin():
            yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


async def settings_dependency() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dependency)]


# An If-Match value as RFC 9110 writes it: `*` or a list of entity tags (ours: app/api/etags.py).
ETAG_LIST_PATTERN = r'^\s*(\*|(W/)?"[!#-~]*"(\s*,\s*(W/)?"[!#-~]*")*)\s*$'


def parse_if_match(value: str | None, item_id: int | None = None) -> frozenset[int] | None:
    """The versions of item `item_id` an If-Match header names; None for `*`.

    The write goes ahead when any of them is current (RFC 9110 13.1.1). A well-formed list without
    a strong tag of ours for this item (`W/"3"`, `"abc"`, another item's `"7.3"`) names none, so
    the write fails its precondition (412) instead of being refused as malformed.

    Raises:
        PreconditionRequiredError: no If-Match header (428).
        InvalidInputError: a header that is not a list of entity tags.
    """
    if value is None or not value.strip():
        raise PreconditionRequiredError(IF_MATCH_REQUIRED)
    if not re.fullmatch(ETAG_LIST_PATTERN, value):
        raise InvalidInputError(
            'If-Match must be * or entity tags such as "3"',
            details={"errors": [{"pointer": "/header/if-match", "message": "not a valid ETag"}]},
        )
    value = value.strip()
    if value == "*":
        return None
    # Strong comparison (RFC 9110 13.1.1): weak tags never match.
    versions = (tagged_version(tag, item_id) for tag in value.split(","))
    return frozenset(v for v in versions if v is not None)


async def get_if_match(
    request: Request,
    if_match: Annotated[
        str,
        Header(
            max_length=200,
            pattern=ETAG_LIST_PATTERN,
            description='the ETag of the version you change, e.g. "3" (or * for any version; '
            'the "<id>.<version>" ETag of a lookup by code works too; of a list of tags, any '
            "one current will do); 428 without it, 412 when the item has changed since",
            examples=['"1"'],
        ),
    ],
) -> frozenset[int] | None:
    # The item id is read from the path rather than declared: the operation declares it already.
    item_id = request.path_params.get("item_id")
    return parse_if_match(
        if_match, int(item_id) if item_id and item_id.isascii() and item_id.isdigit() else None
    )


async def get_principal(request: Request, session: SessionDep) -> Actor | None:
    """The caller's key as an actor, None when no key is sent.

    Raises:
        UnauthorizedError: a key was sent but is malformed, unknown or revoked.
    """
    # Read from the request, not declared as a parameter: the bearer scheme is documented once, as
    # the security of the writes (get_actor), instead of as a header every operation takes.
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    token = keys.bearer_token(authorization)
    if token is None:
        raise UnauthorizedError("use Authorization: Bearer <API key>")
    found = await keys.authenticate(session, token=token)
    if found is None:
        raise UnauthorizedError("the API key is not valid or has been revoked")
    return replace(found, request_id=request.headers.get("x-request-id"))


PrincipalDep = Annotated[Actor | None, Depends(get_principal)]


async def require_reader(principal: PrincipalDep, settings: SettingsDep) -> None:
    """Reads are open when POWERCAT_PUBLIC_READ is true; otherwise any valid key may read."""
    if principal is None and not settings.public_read:
        raise UnauthorizedError("reading needs an API key (POWERCAT_PUBLIC_READ is off)")


# A query parameter any route lets through: the cache-buster that jQuery's `cache: false` and
# other browser libraries append (`?_=1733500000000`). It selects nothing.
CACHE_BUSTER = "_"

# By endpoint function: routes compare by value and cannot be keys, and every app built from
# api_router() has the same endpoints with the same parameters.
_declared_queries: dict[Callable[..., Any], dict[str, bool]] = {}


def _declared_query(route: APIRoute) -> dict[str, bool]:
    """Each query parameter `route` reads, its dependencies' included, and whether it takes a
    list of values (computed once a route)."""
    found = _declared_queries.get(route.endpoint)
    if found is None:
        found = _query_parameters(route.dependant)
        _declared_queries[route.endpoint] = found
    return found


def _query_parameters(dependant: Dependant) -> dict[str, bool]:
    found = {p.alias: _takes_a_list(p.field_info.annotation) for p in dependant.query_params}
    for sub in dependant.dependencies:
        found |= _query_parameters(sub)
    return found


def _takes_a_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, set, frozenset, tuple):
        return True
    return any(_takes_a_list(arg) for arg in get_args(annotation)) if origin else False


def _query_error(name: str, message: str) -> dict[str, str]:
    # A name shaped like ours is named (`agency_id`); any other is the client's own text and is
    # not echoed, as a made-up body key is not (problems._input_location).
    pointer = "/query/" + name if FIELD_NAME.match(name) else "/query"
    return {"pointer": pointer, "message": message}


# RFC 7240's preference for a server that may ignore what it cannot use.
_LENIENT = re.compile(r"(^|[,;\s])handling\s*=\s*\"?lenient\"?\s*($|[,;])", re.IGNORECASE)


async def check_query_parameters(request: Request) -> None:
    """An unknown query parameter is a 422, as an unknown body field is; so is a one-value
    parameter given twice. `Prefer: handling=lenient` (RFC 7240) asks for both to be ignored.

    Ignored, a misspelt filter (`?agency_id=2` for `?agency=2`) answers with the whole
    catalogue, and a client syncing one agency would not know it got every other one too. Of a
    repeated one (`?status=active&status=withdrawn`) only the last value would count, where the
    client may have meant either, or both. It runs before the route's own key check and
    parameter validation (router dependencies come first), so a request with an unknown
    parameter learns of it before it learns of a missing key.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.scope["query_string"]:
        return
    declared = _declared_query(route)
    given = request.query_params.multi_items()
    unknown = sorted({name for name, _ in given if name not in declared and name != CACHE_BUSTER})
    counts = Counter(name for name, _ in given)
    repeated = sorted(name for name, n in counts.items() if n > 1 and declared.get(name) is False)
    if not unknown and not repeated:
        return
    if any(_LENIENT.search(value) for value in request.headers.getlist("prefer")):
        request.scope[PREFERENCE_APPLIED] = b"handling=lenient"
        return
    takes = ", ".join(sorted(declared))
    unknown_message = (
        f"not a parameter of this endpoint, which takes: {takes}"
        if takes
        else "this endpoint takes no query parameters"
    )
    found = [_query_error(name, unknown_message) for name in unknown]
    found += [_query_error(name, "given more than once; it takes one value") for name in repeated]
    unique = list({(e["pointer"], e["message"]): e for e in found}.values())
    raise InvalidInputError("the request is not valid", details={"errors": unique[:10]})


# Documents `Authorization: Bearer <key>` as the security scheme of every write; get_principal does
# the checking (auto_error=False: a missing or malformed key is its 401, with its message).
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="an API key from `powercat keys create`: `Authorization: Bearer pck_…`",
)


async def get_actor(
    principal: PrincipalDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    x_change_reason: Annotated[
        str | None,
        Header(
            max_length=3000,
            description="why the change is made (audit); percent-encode non-ASCII text (UTF-8)",
        ),
    ] = None,
) -> Actor:
    """The writer: a write or admin key, with the reason it gives.

    Raises:
        UnauthorizedError: no key. ForbiddenError: a read-only key.
    """
    if principal is None:
        raise UnauthorizedError("writing needs an API key: Authorization: Bearer <key>")
    if principal.scope not in {"write", "admin"}:
        raise ForbiddenError("this key may only read")
    reason = header_text(x_change_reason)[:1000] if x_change_reason else None
    if reason is not None and "\x00" in reason:
        # Percent-decoding can make one (%00); PostgreSQL text cannot hold it.
        raise InvalidInputError(
            "X-Change-Reason holds a NUL character",
            details={"errors": [{"pointer": "/header/x-change-reason", "message": "NUL"}]},
        )
    return replace(principal, reason=reason)


def header_text(value: str) -> str:
    """The text a header value carries: percent-encoded UTF-8, as documented (header values are
    ASCII by the standard), or raw UTF-8 bytes, which many clients send as they are. Starlette
    reads every header as Latin-1, so raw UTF-8 arrives as mojibake (`å¹´` for `年`): turned back
    into the text it was when its bytes are UTF-8, kept as read when they are not."""
    if not value.isascii():
        with contextlib.suppress(UnicodeError):
            value = value.encode("latin-1").decode("utf-8")
    return unquote(value, errors="replace")


async def get_admin(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
    """An admin key.

    Raises:
        ForbiddenError: the key is not an admin key.
    """
    if not actor.is_admin:
        raise ForbiddenError("this needs an admin key")
    return actor


async def get_admin_reader(
    principal: PrincipalDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Actor:
    """An admin key, for a read only admins may make (the audit trail): no change, so no
    X-Change-Reason in the operation's document.

    Raises:
        UnauthorizedError: no key. ForbiddenError: not an admin key.
    """
    if principal is None:
        raise UnauthorizedError("this needs an admin key: Authorization: Bearer <key>")
    if not principal.is_admin:
        raise ForbiddenError("this needs an admin key")
    return principal


def _reads_replica(request: Request, principal: Actor | None) -> bool:
    """Whether this read goes to the replica: one is set, and the caller does not write.

    Callers holding a write or admin key read the primary: they are the ones who change items and
    expect to see their own changes at once. Public and read-key traffic, the bulk of lookups and
    exports, goes to the replica and may lag it by the replication delay.
    """
    has_replica = getattr(request.state, "read_sessionmaker", None) is not None
    return has_replica and (principal is None or principal.scope == "read")


async def get_read_sessionmaker(
    request: Request, principal: PrincipalDep
) -> async_sessionmaker[AsyncSession]:
    """The sessionmaker of a read that outlives its request (a streamed export)."""
    name = "read_sessionmaker" if _reads_replica(request, principal) else "sessionmaker"
    maker: async_sessionmaker[AsyncSession] = getattr(request.state, name)
    return maker


ReadSessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_read_sessionmaker)]


async def get_read_session(
    request: Request, principal: PrincipalDep, primary: SessionDep
) -> AsyncIterator[AsyncSession]:
    """The session for a read: on the replica (POWERCAT_READ_DATABASE_URL) when one is set.

    Who goes where is _reads_replica's rule. `primary` opens no connection unless it is
    used (the key lookup uses it), so a replica read costs the primary nothing; and when there is
    no replica, reads share the request's one session, as tests that override get_session expect.
    """
    if not _reads_replica(request, principal):
        yield primary
        return
    reads: async_sessionmaker[AsyncSession] = request.state.replica_reads_sessionmaker
    async with reads() as session, session.begin():
        yield session


# For GETs that need no read-your-writes guarantee. The change feed and the audit log stay on
# SessionDep: the feed's visibility horizon is reasoned about on the primary only.
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
IfMatchDep = Annotated[frozenset[int] | None, Depends(get_if_match)]
ActorDep = Annotated[Actor, Depends(get_actor)]
AdminDep = Annotated[Actor, Depends(get_admin)]
AdminReaderDep = Annotated[Actor, Depends(get_admin_reader)]
