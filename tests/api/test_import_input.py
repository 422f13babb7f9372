"""POST /api/v1/imports: the report's problems, and refused files as 4xx problems."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.problems import FILE_PART_EXPECTED
from tests.api.test_imports import PROBLEM, _upload
from tests.factories import DUNHUANG, MINQIN, import_file, table_counts
from tests.import_samples import UNKNOWN_LAYOUT, bad_files
from tests.integration.test_imports import (
    check_dunhuang_repeat,
    check_field_problems,
    rows_with_field_problems,
)


class TestImportReportOverHttp:
    async def test_repeated_row_warning_names_both_line_ranges(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await _upload(client, DUNHUANG.read_bytes(), DUNHUANG.name)
        assert r.status_code == 200, r.text
        check_dunhuang_repeat(r.json())

    async def test_each_problem_names_file_line_and_field(self, client: httpx.AsyncClient) -> None:
        r = await _upload(client, rows_with_field_problems(), "fields.csv")
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["new"] == 4
        check_field_problems(r.json(), "fields.csv")


class TestBadFilesOverHttp:
    async def test_a_file_sent_as_a_plain_field_is_told_to_come_as_a_file(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post("/api/v1/imports", data={"file": "序号\t事项名称", "format": "tsv"})
        assert r.status_code == 422
        [error] = r.json()["errors"]
        assert error["pointer"] == "/body/file"
        assert error["message"] == FILE_PART_EXPECTED
        assert "class" not in r.text

    @pytest.mark.parametrize("name", [*bad_files(), "unknown-layout"])
    async def test_refused_with_a_problem_and_the_catalogue_unchanged(
        self, client: httpx.AsyncClient, session: AsyncSession, name: str
    ) -> None:
        await import_file(session, MINQIN)
        before = await table_counts(session)
        data = UNKNOWN_LAYOUT if name == "unknown-layout" else bad_files()[name]
        r = await _upload(client, data, name)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "import.bad_format"
        assert r.json()["status"] == 422
        assert await table_counts(session) == before

    async def test_upload_declared_larger_than_the_limit_is_413_before_reading(
        self, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.settings import get_settings

        monkeypatch.setattr(get_settings(), "max_upload_bytes", 4096)
        await import_file(session, MINQIN)
        before = await table_counts(session)
        # Past limit + one read chunk: refused on its Content-Length alone.
        r = await _upload(client, b"x" * (4096 + 2 * 1024 * 1024), "big.tsv")
        assert r.status_code == 413
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "payload_too_large"
        assert await table_counts(session) == before
