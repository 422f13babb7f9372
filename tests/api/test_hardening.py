"""Limits, headers and hostile input: always a 4xx problem, never a 5xx, nothing written."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import get_engine, get_session
from app.main import create_app
from app.settings import Settings
from tests.factories import MINQIN, import_file, table_counts

PROBLEM = "application/problem+json"
FIRST_CODE = "11620621MB176555834620236001000"


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)


def _client_for(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {
        "rate_limit_per_minute": 5,
        "max_body_bytes": 2048,
        "cors_origins": ["https://portal.example.gov.cn"],
    }


@pytest.fixture
async def tuned(
    settings: Settings,
    engine: Any,
    session: AsyncSession,
    admin_token: str,
    overrides: dict[str, Any],
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with small limits, on the test transaction."""
    app = create_app(settings.model_copy(update=overrides))
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_engine] = lambda: engine
    async with _client_for(app, admin_token) as c:
        yield app, c


class TestHeaders:
    async def test_security_headers_and_request_id(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-request-id"] == "abc-123"
        # No server banner: uvicorn adds it, not the app, so tests/browser checks the real server.

    async def test_unsafe_request_id_is_replaced(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/healthz", headers={"X-Request-ID": "a b<script>"})
        assert r.headers["x-request-id"] != "a b<script>"
        assert len(r.headers["x-request-id"]) == 32

    async def test_cors_is_closed_by_default(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/power-types", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers

    async def test_cors_allow_list(self, tuned: tuple[FastAPI, httpx.AsyncClient]) -> None:
        _, c = tuned
        ok = await c.get("/api/v1/power-types", headers={"Origin": "https://portal.example.gov.cn"})
        assert ok.headers["access-control-allow-origin"] == "https://portal.example.gov.cn"
        other = await c.get("/api/v1/power-types", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers

    async def test_a_portal_may_read_the_next_link_and_ask_for_leniency(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        # A browser hides every response header that is not exposed: without Link a portal
        # could not follow a listing's rel="next".
        _, c = tuned
        portal = {"Origin": "https://portal.example.gov.cn"}
        r = await c.get("/api/v1/power-types", headers=portal)
        assert "link" in r.headers["access-control-expose-headers"].lower().split(", ")
        r = await c.options(
            "/api/v1/items",
            headers={
                **portal,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "prefer",
            },
        )
        assert r.status_code == 200, r.text
        assert "prefer" in r.headers["access-control-allow-headers"].lower()

    async def test_a_portal_may_ask_for_a_head_with_a_cached_etag(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        # If-None-Match makes the browser ask first (a preflight); HEAD is served (the edge).
        _, c = tuned
        r = await c.options(
            "/api/v1/power-types",
            headers={
                "Origin": "https://portal.example.gov.cn",
                "Access-Control-Request-Method": "HEAD",
                "Access-Control-Request-Headers": "if-none-match",
            },
        )
        assert r.status_code == 200, r.text
        assert "HEAD" in r.headers["access-control-allow-methods"]

    async def test_refusals_carry_the_cors_headers(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        # A portal's page must be able to read a 413 or a 429 and its Retry-After, not just the
        # 200s: the edge's own answers pass through CORS too.
        _, c = tuned
        portal = {"Origin": "https://portal.example.gov.cn"}
        big = await c.post(
            "/api/v1/items",
            content=b"{}",
            headers={**portal, "Content-Type": "application/json", "Content-Length": "999999"},
        )
        assert big.status_code == 413
        assert big.headers["access-control-allow-origin"] == portal["Origin"]
        answers = [await c.get("/api/v1/power-types", headers=portal) for _ in range(8)]
        assert answers[-1].status_code == 429
        for r in answers:
            assert r.headers["access-control-allow-origin"] == portal["Origin"]
        assert "retry-after" in answers[-1].headers["access-control-expose-headers"].lower()


class TestLimits:
    async def test_oversized_json_body_is_413(
        self, tuned: tuple[FastAPI, httpx.AsyncClient], session: AsyncSession
    ) -> None:
        _, c = tuned
        before = await table_counts(session)
        r = await c.post(
            "/api/v1/items",
            content=json.dumps({"name": "x" * 5000}).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "payload_too_large"
        assert await table_counts(session) == before

    async def test_oversized_body_without_a_length_is_413(
        self, tuned: tuple[FastAPI, httpx.AsyncClient], session: AsyncSession
    ) -> None:
        # Chunked: no Content-Length to refuse up front, so the limit trips while the route
        # reads the body, inside FastAPI's body parsing.
        _, c = tuned
        before = await table_counts(session)

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        r = await c.post(
            "/api/v1/items", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in r.request.headers
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "payload_too_large"
        assert await table_counts(session) == before

    async def test_rate_limit_is_429_with_retry_after(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, c = tuned
        statuses = [(await c.get("/api/v1/power-types")).status_code for _ in range(7)]
        assert statuses[:5] == [200] * 5
        assert 429 in statuses[5:]
        r = await c.get("/api/v1/power-types")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["code"] == "too_many_requests"

    async def test_cycling_made_up_bearer_values_does_not_escape_the_limit(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, c = tuned
        statuses = []
        for _ in range(7):
            fake = {"Authorization": f"Bearer pck_{secrets.token_urlsafe(32)}"}
            statuses.append((await c.get("/api/v1/power-types", headers=fake)).status_code)
        assert statuses[:5] == [401] * 5
        assert statuses[5:] == [429, 429]
        r = await c.get("/api/v1/power-types", headers={"Authorization": "Basic eDp5"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        # No header at all is the same address, so the same bucket.
        assert (
            await c.get("/api/v1/power-types", headers={"Authorization": ""})
        ).status_code == 429

    async def test_a_verified_key_has_its_own_bucket(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, c = tuned  # sends the admin key
        # The key's first request is charged to the address; once verified, the key's own.
        assert [(await c.get("/api/v1/power-types")).status_code for _ in range(6)] == [200] * 6
        assert (await c.get("/api/v1/power-types")).status_code == 429
        fake = {"Authorization": f"Bearer pck_{secrets.token_urlsafe(32)}"}
        others = [(await c.get("/api/v1/power-types", headers=fake)).status_code for _ in range(5)]
        assert others == [401] * 4 + [429]

    @pytest.mark.parametrize("overrides", [{"request_timeout_s": 1.0}])
    async def test_slow_request_times_out_with_503(
        self, tuned: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        app, c = tuned

        @app.get("/_probe/slow")
        async def slow() -> None:
            await asyncio.sleep(60)

        r = await c.get("/_probe/slow")
        assert r.status_code == 503
        assert r.json()["code"] == "timeout"


# label, body, and the pointer each error list must hold (for POST /items) besides the code.
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("invalid-json", b'{"name": ', "/body"),
    ("invalid-utf8", b'{"name": "\xff\xfe"}', "/body"),
    ("lone-surrogate", b'{"name": "\\ud800"}', "/body/name"),
    ("lone-surrogate-low", b'{"remarks": "a\\udc00b"}', "/body/remarks"),
    ("lone-surrogate-key", b'{"\\udc00x": 1, "agency_id": 1}', "/body"),
    ("nul", b'{"name": "a\\u0000b", "agency_id": 1}', "/body/name"),
    ("nul-key", b'{"na\\u0000me": "x", "agency_id": 1}', "/body"),
    ("deep-nesting", b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", "/body"),
    ("huge-number", b'{"agency_id": 1' + b"0" * 400 + b"}", "/body/agency_id"),
    ("beyond-64-bit", b'{"agency_id": 18446744073709551616}', "/body/agency_id"),
    ("wrong-types", b'{"agency_id": "one", "name": 5, "power_type": []}', "/body/power_type"),
    ("unknown-field", b'{"agency_id": 1, "name": "x", "colour": "vermilion"}', "/body/colour"),
    ("huge-unknown-key", b'{"' + b"k" * 5000 + b'": 1}', "/body"),
    ("not-an-object", b"[1, 2, 3]", "/body"),
    ("nan", b'{"agency_id": NaN}', "/body/agency_id"),
]


@pytest.mark.usefixtures("seeded")
class TestHostileInput:
    @pytest.mark.parametrize(
        ("label", "body", "pointer"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
    )
    async def test_bad_bodies_are_422_problems_without_echo(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        label: str,
        body: bytes,
        pointer: str,
    ) -> None:
        before = await table_counts(session)
        for method, url in (("POST", "/api/v1/items"), ("PATCH", "/api/v1/items/1")):
            r = await client.request(
                method,
                url,
                content=body,
                headers={"Content-Type": "application/json", "If-Match": '"1"'},
            )
            assert r.status_code == 422, (label, method, r.status_code)
            assert r.headers["content-type"] == PROBLEM
            problem = r.json()
            assert problem["code"] == "invalid_input"
            assert problem["type"] == "urn:problem-type:powercat:invalid_input"
            pointers = [e["pointer"] for e in problem["errors"]]
            assert pointers, label
            # Pointers name places in the body, never pydantic's internals or made-up keys.
            for p in pointers:
                assert p == "/body" or p.startswith("/body/"), p
                assert not set(p) & set("[]()<> "), p
            assert "kkkk" not in r.text
            assert "ud800" not in r.text
            assert "udc00" not in r.text
            assert "colour" not in problem["detail"]
            assert "vermilion" not in r.text
        assert pointer in pointers  # of the PATCH: the same place in both bodies
        assert await table_counts(session) == before

    @pytest.mark.parametrize(
        ("url", "status", "code"),
        [
            ("/api/v1/items/99999999999999999999999", 422, "invalid_input"),
            ("/api/v1/items/9223372036854775808", 422, "invalid_input"),
            ("/api/v1/items/2147483648", 422, "invalid_input"),
            ("/api/v1/items/-1", 422, "invalid_input"),
            ("/api/v1/items?limit=99999999999999999999", 422, "invalid_input"),
            ("/api/v1/items?agency=18446744073709551616", 422, "invalid_input"),
            ("/api/v1/items?cursor=%FF%FE", 400, "bad_request"),
            ("/api/v1/items?q=%FF%FE%00", 400, "bad_request"),
            ("/api/v1/items?q=%C3%28", 400, "bad_request"),
            ("/api/v1/items?agency=%00", 400, "bad_request"),
            ("/api/v1/items/by-code/%FF" + "A" * 30, 400, "bad_request"),
            ("/api/v1/items?cursor=garbage", 400, "cursor.invalid"),
            ("/api/v1/items?cursor=" + "A" * 600, 400, "cursor.invalid"),
            ("/api/v1/items?cursor=a.b", 400, "cursor.invalid"),
            ("/api/v1/changes?after=abc", 400, "cursor.invalid"),
            ("/api/v1/changes?after=" + "x" * 600, 400, "cursor.invalid"),
            ("/api/v1/changes?after=%2Fetc%2Fpasswd", 400, "cursor.invalid"),
            ("/api/v1/validation/issues?cursor=%3Cscript%3E", 400, "cursor.invalid"),
        ],
    )
    async def test_bad_paths_and_queries_are_4xx(
        self, client: httpx.AsyncClient, url: str, status: int, code: str
    ) -> None:
        r = await client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[:200])
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == code
        for echoed in ("script", "passwd", "AAAA", "xxxx"):
            assert echoed not in r.text

    # The client is shared by the examples on purpose: requests that fail leave nothing behind.
    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        body=st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["name", "agency_id", "power_type", "local_code", "seq", "x"])
                    | st.text(max_size=5),
                    children,
                    max_size=5,
                )
            ),
            max_leaves=12,
        )
    )
    async def test_random_bodies_never_5xx(self, client: httpx.AsyncClient, body: Any) -> None:
        for method, url in (
            ("POST", "/api/v1/items"),
            ("PATCH", "/api/v1/items/1"),
            ("POST", "/api/v1/releases"),
        ):
            r = await client.request(method, url, json=body, headers={"If-Match": '"999"'})
            assert r.status_code < 500, (method, url, r.status_code, r.text[:200])
