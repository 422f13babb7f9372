"""Every error is an RFC 9457 problem document with a stable code and no echoed input."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from app import errors
from app.api.deps import _declared_query, _takes_a_list

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

    async def test_an_unknown_query_parameter_is_422_naming_the_ones_taken(
        self, client: httpx.AsyncClient
    ) -> None:
        # A misspelt filter must not answer with the whole catalogue.
        r = await client.get("/api/v1/items", params={"agency_id": "2", "limit": "1"})
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["code"] == "invalid_input"
        [error] = body["errors"]
        assert error["pointer"] == "/query/agency_id"
        assert error["message"].startswith("not a parameter of this endpoint, which takes: agency,")
        assert "agency_id" not in error["message"]

        r = await client.get("/api/v1/power-types", params={"a": "2"})
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {"pointer": "/query/a", "message": "this endpoint takes no query parameters"}
        ]

    async def test_an_unknown_parameter_named_as_no_field_is_not_echoed(
        self, client: httpx.AsyncClient
    ) -> None:
        made_up = ["<script>x</script>", "pck_" + "k" * 70, "a\nb", ""]
        r = await client.get("/api/v1/items", params=dict.fromkeys(made_up, "1"))
        assert r.status_code == 422
        # One error for all of them, pointing at the query as a whole.
        assert [e["pointer"] for e in r.json()["errors"]] == ["/query"]
        for name in made_up[:3]:
            assert name not in r.text
        assert "script" not in r.text

    async def test_a_lenient_client_has_unknown_and_repeated_parameters_ignored(
        self, client: httpx.AsyncClient
    ) -> None:
        url = "/api/v1/items?limit=1&t=1733500000000&limit=2"
        assert (await client.get(url)).status_code == 422
        for prefer in ("handling=lenient", 'return=minimal, Handling="lenient"'):
            r = await client.get(url, headers={"Prefer": prefer})
            assert r.status_code == 200, (prefer, r.text)
            assert r.json() == {"items": [], "next_cursor": None}
            # RFC 7240: the answer says it was lenient, and a cache keeps it to lenient clients.
            assert r.headers["preference-applied"] == "handling=lenient"
            assert r.headers["vary"] == "Prefer"
        r = await client.get(url, headers={"Prefer": "handling=strict"})
        assert r.status_code == 422
        # Nothing was ignored: no preference was applied.
        plain = await client.get("/api/v1/items?limit=1", headers={"Prefer": "handling=lenient"})
        assert plain.status_code == 200
        assert "preference-applied" not in plain.headers
        assert "vary" not in plain.headers

    async def test_a_one_value_parameter_given_twice_is_422(
        self, client: httpx.AsyncClient
    ) -> None:
        # Only the last would count, where the client may have meant either, or both.
        r = await client.get("/api/v1/items?status=active&status=withdrawn&limit=1")
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {"pointer": "/query/status", "message": "given more than once; it takes one value"}
        ]
        assert (await client.get("/api/v1/items?status=active&limit=1")).status_code == 200

    def test_a_list_parameter_may_be_given_more_than_once(self) -> None:
        # No route takes one yet; when one does, its repeats are its values, not an error.
        assert _takes_a_list(list[str] | None)
        assert _takes_a_list(Annotated[tuple[int, ...], "x"])
        assert not _takes_a_list(str | None)
        assert not _takes_a_list(int)

    async def test_the_cache_buster_is_let_through(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/items", params={"limit": "1", "_": "1733500000000"})
        assert r.status_code == 200, r.text
        assert (await client.get("/api/v1/power-types?_=1")).status_code == 200

    async def test_every_route_takes_the_query_parameters_it_documents(self, app: FastAPI) -> None:
        spec = app.openapi()
        checked = 0
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            path = context.path_format or ""
            if not isinstance(route, APIRoute) or not path.startswith("/api/v1"):
                continue
            for method in set(context.methods or ()) - {"HEAD"}:
                operation = spec["paths"][path][method.lower()]
                documented = {
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                }
                assert set(_declared_query(route)) == documented, path
                checked += 1
        assert checked > 20

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
