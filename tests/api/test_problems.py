"""Every error is an RFC 9457 problem document with a stable code and no echoed input."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from app import errors

PROBLEM = "application/problem+json"


class _Body(BaseModel):
    name: str = Field(max_length=5)


@pytest.fixture
def probe_app(app: FastAPI) -> FastAPI:
    """The real app plus routes that fail on purpose."""

    @app.get("/_probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/_probe/missing")
    async def missing() -> None:
        raise errors.ItemNotFoundError("item 7 does not exist")

    @app.post("/_probe/echo")
    async def echo(body: _Body) -> _Body:
        return body

    return app


class TestProblems:
    async def test_unknown_route_is_404_problem(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/no-such-thing")
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["code"] == "not_found"
        assert body["status"] == 404
        assert {"type", "title", "status", "detail", "code"} <= body.keys()

    async def test_wrong_method_is_405_problem(self, client: httpx.AsyncClient) -> None:
        r = await client.delete("/healthz")
        assert r.status_code == 405
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "method_not_allowed"

    async def test_405_allows_head_wherever_it_allows_get(self, client: httpx.AsyncClient) -> None:
        r = await client.put("/api/v1/items/29")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD, PATCH, DELETE"
        assert (await client.delete("/healthz")).headers["allow"] == "GET, HEAD"

    async def test_a_form_encoded_body_is_415_not_a_type_error(
        self, client: httpx.AsyncClient
    ) -> None:
        # What `curl -d '{"name": "x"}'` sends without -H 'Content-Type: application/json'.
        sent = {"Content-Type": "application/x-www-form-urlencoded"}
        r = await client.post("/api/v1/releases", content=b'{"name": "r1"}', headers=sent)
        assert r.status_code == 415
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "unsupported_media_type"
        assert "Content-Type: application/json" in r.json()["detail"]
        # No Content-Type at all (requests' data=json.dumps(...)) is not read as JSON either.
        r = await client.post("/api/v1/releases", content=b'{"name": "r1"}')
        assert "content-type" not in r.request.headers
        assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")
        # Declared JSON, a body of the wrong shape is still the 422 it was.
        r = await client.post("/api/v1/releases", json=["r1"])
        assert (r.status_code, r.json()["errors"][0]["pointer"]) == (422, "/body")

    async def test_a_body_nested_too_deeply_says_so(self, client: httpx.AsyncClient) -> None:
        deep = b"[" * 100_000 + b"]" * 100_000
        r = await client.post(
            "/api/v1/releases", content=deep, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422
        assert "nested too deeply" in r.json()["errors"][0]["message"]

    async def test_domain_error_maps_to_its_status(
        self, probe_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/_probe/missing")
        assert r.status_code == 404
        assert r.json()["code"] == "item.not_found"

    async def test_invalid_body_is_422_with_pointers_and_no_echo(
        self, probe_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        r = await client.post("/_probe/echo", json={"name": "TOOLONGVALUE-XYZ"})
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["code"] == "invalid_input"
        assert body["errors"][0]["pointer"] == "/body/name"
        assert "TOOLONGVALUE-XYZ" not in r.text

    async def test_unhandled_error_is_generic_500(
        self, probe_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/_probe/boom")
        assert r.status_code == 500
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "internal_error"
        assert "secret internal detail" not in r.text
        assert "Traceback" not in r.text
