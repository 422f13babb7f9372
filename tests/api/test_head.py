"""HEAD answers as the GET it mirrors, without the body (RFC 9110 9.3.2), on every readable
route: the lookup's fast layer, the documented routes, the probes and the streamed exports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import Message

from app.api.middleware import _head
from app.main import create_app
from app.services import exports
from app.settings import Settings
from tests.asgi import LifespanClient, lifespan_client
from tests.factories import DUNHUANG, MINQIN, seed_committed

FIRST_CODE = "11620621MB176555834620236001000"
# Differ between any two answers, or are the body's own.
VOLATILE = {"date", "x-request-id", "content-length"}


@pytest.fixture
async def served(migrated_url: str) -> AsyncIterator[LifespanClient]:
    """The real app, fast layer included, over both seed lists, committed."""
    await seed_committed(migrated_url, MINQIN, DUNHUANG)
    async with lifespan_client(create_app(Settings(database_url=migrated_url))) as c:
        yield c


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/items/by-code/{FIRST_CODE}",
        "/api/v1/items/by-code/11620621MB176555834620236999000",
        "/api/v1/items?limit=2",
        "/api/v1/changes",
        "/api/v1/agencies",
        "/api/v1/exports?format=csv",
        "/api/v1/exports?format=xlsx",
        "/api/v1/exports?format=json&release=no-such-release",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ],
)
async def test_head_is_the_get_without_its_body(served: LifespanClient, path: str) -> None:
    got = await served.get(path)
    head = await served.head(path)
    assert head.status_code == got.status_code
    assert head.content == b""
    assert got.content != b""

    def kept(headers: Any) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k not in VOLATILE}

    assert kept(head.headers) == kept(got.headers)
    if "content-length" in got.headers:
        assert head.headers["content-length"] == got.headers["content-length"]


async def test_head_of_a_lookup_on_the_documented_route(migrated_url: str) -> None:
    await seed_committed(migrated_url, MINQIN, DUNHUANG)
    app = create_app(Settings(database_url=migrated_url))
    app.dependency_overrides[object] = object  # any override: the fast route steps aside
    path = f"/api/v1/items/by-code/{FIRST_CODE}"
    async with lifespan_client(app) as c:
        got, head = await c.get(path), await c.head(path)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert {k: v for k, v in head.headers.items() if k not in VOLATILE} == {
        k: v for k, v in got.headers.items() if k not in VOLATILE
    }


@pytest.mark.parametrize("fmt", ["ndjson", "xlsx"])
async def test_a_head_of_an_export_does_not_make_it(
    served: LifespanClient, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # An XLSX export is built whole before its first byte: a HEAD must not pay for that.
    batches = 0
    one_by_one = exports._batches

    async def counted(session: Any, scope: Any, _size: int) -> AsyncIterator[Any]:
        nonlocal batches
        async for batch in one_by_one(session, scope, 1):
            batches += 1
            yield batch

    monkeypatch.setattr(exports, "_batches", counted)
    assert (await served.get(f"/api/v1/exports?format={fmt}")).status_code == 200
    assert batches >= 30, "both lists, one item a batch"
    batches = 0
    assert (await served.head(f"/api/v1/exports?format={fmt}")).status_code == 200
    assert batches == 0


async def test_a_head_where_only_post_is_served_is_405(served: LifespanClient) -> None:
    r = await served.head("/api/v1/imports")
    assert r.status_code == 405


async def test_a_body_sent_as_a_file_ends_a_head_too() -> None:
    # A server offering the pathsend extension gets a file's body as one; a HEAD must still end.
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    _receive, head_send = _head(receive, send)
    await head_send({"type": "http.response.start", "status": 200, "headers": []})
    await head_send({"type": "http.response.pathsend", "path": "/srv/swagger-ui.css"})
    await head_send({"type": "http.response.trailers", "headers": [], "more_trailers": False})
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
