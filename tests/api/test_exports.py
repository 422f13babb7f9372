"""GET /api/v1/exports: streamed files with the right media types, and problems before the body."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.api.deps import get_read_sessionmaker
from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.main import create_app
from app.services.importers.structured import FLAT_COLUMNS
from app.settings import Settings
from tests.asgi import lifespan_client
from tests.dbutil import drop_database, fresh_database
from tests.factories import DUNHUANG, MINQIN, import_file

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def export_sessions(app: FastAPI, session: AsyncSession) -> None:
    """The export body reads through the test's connection (ASGITransport runs no lifespan)."""
    assert isinstance(session.bind, AsyncConnection)
    maker = async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    app.dependency_overrides[get_read_sessionmaker] = lambda: maker


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)


@pytest.mark.usefixtures("seeded")
class TestFormats:
    async def test_csv_with_bom_and_attachment_name(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/exports", params={"format": "csv"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == 'attachment; filename="powercat-current.csv"'
        assert r.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
        assert rows[0] == list(FLAT_COLUMNS)
        assert len(rows) == 1 + 37

    async def test_xlsx_workbook(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/exports", params={"format": "xlsx"})
        assert r.status_code == 200
        assert r.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert r.headers["content-disposition"].endswith('filename="powercat-current.xlsx"')
        sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
        assert sum(1 for _ in sheet.iter_rows()) == 1 + 37

    async def test_json_matches_the_items_api(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/exports", params={"format": "json"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        exported = r.json()
        listed = (await client.get("/api/v1/items", params={"limit": 1000})).json()["items"]
        assert exported == listed

    async def test_ndjson_one_item_per_line(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/exports", params={"format": "ndjson"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        assert len([json.loads(line) for line in r.text.splitlines()]) == 37

    async def test_agency_filter(self, client: httpx.AsyncClient) -> None:
        agencies = (await client.get("/api/v1/agencies")).json()
        minqin = next(a["id"] for a in agencies if a["name"] == "民勤县医疗保障局")
        r = await client.get("/api/v1/exports", params={"format": "json", "agency": minqin})
        assert r.status_code == 200
        assert {i["agency"]["id"] for i in r.json()} == {minqin}
        assert len(r.json()) == 9

    async def test_pinned_to_a_release(self, client: httpx.AsyncClient) -> None:
        created = await client.post(
            "/api/v1/releases", json={"name": "v1", "force": True, "reason": "已知问题"}
        )
        assert created.status_code == 201
        item = (await client.get("/api/v1/items", params={"limit": 1})).json()["items"][0]
        patched = await client.patch(
            f"/api/v1/items/{item['id']}", json={"remarks": "发布后"}, headers={"If-Match": '"1"'}
        )
        assert patched.status_code == 200
        r = await client.get("/api/v1/exports", params={"format": "json", "release": "v1"})
        assert r.status_code == 200
        assert r.headers["content-disposition"].endswith('filename="powercat-v1.json"')
        pinned = next(i for i in r.json() if i["id"] == item["id"])
        assert (pinned["version"], pinned["remarks"]) == (1, item["remarks"])


class TestProblems:
    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"format": "xml"},
            {"format": "csv", "release": "bad name"},
            {"format": "csv", "agency": 0},
        ],
    )
    async def test_bad_parameters_are_422(
        self, client: httpx.AsyncClient, params: dict[str, str | int]
    ) -> None:
        r = await client.get("/api/v1/exports", params=params)
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"

    async def test_unknown_release_is_404_before_any_byte(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/exports", params={"format": "csv", "release": "nope"})
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "release.not_found"

    async def test_unknown_agency_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/exports", params={"format": "csv", "agency": 999_999})
        assert r.status_code == 404
        assert r.json()["code"] == "agency.not_found"


@pytest.fixture
async def served(tmp_path: Path, worker_id: str) -> AsyncIterator[Settings]:
    """A database of its own with the seeds committed, for the app's real lifespan."""
    url = await asyncio.to_thread(fresh_database, f"api_exp{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    settings = Settings(database_url=url)
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as s, s.begin():
        await import_file(s, MINQIN)
    await engine.dispose()
    yield settings
    await asyncio.to_thread(drop_database, url)


class TestServedByTheRealApp:
    @pytest.mark.parametrize("fmt", ["ndjson", "xlsx"])
    async def test_body_streams_from_its_own_session(self, served: Settings, fmt: str) -> None:
        # The request's session closes before the body is sent: the body must not need it.
        async with lifespan_client(create_app(served)) as c:
            r = await c.get("/api/v1/exports", params={"format": fmt})
        assert r.status_code == 200
        if fmt == "ndjson":
            assert len(r.text.splitlines()) == 9
        else:
            sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
            assert sum(1 for _ in sheet.iter_rows()) == 10
