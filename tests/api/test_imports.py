"""POST /api/v1/imports: multipart upload into the same import service."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.routes.imports import safe_file_name
from tests.factories import DUNHUANG, MINQIN, SHARED_CODE, table_counts

PROBLEM = "application/problem+json"


async def _upload(
    client: httpx.AsyncClient, data: bytes, name: str = "list.txt", **form: str
) -> httpx.Response:
    return await client.post("/api/v1/imports", files={"file": (name, data)}, data=form)


class TestImportUpload:
    async def test_seed_upload_imports_and_reports(self, client: httpx.AsyncClient) -> None:
        r = await _upload(client, MINQIN.read_bytes(), MINQIN.name)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "imported"
        assert body["format"] == "tsv"
        assert body["counts"]["new"] == 9
        assert body["batch_id"] is not None

    async def test_dry_run_writes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        before = await table_counts(session)
        r = await _upload(client, DUNHUANG.read_bytes(), DUNHUANG.name, dry_run="true")
        assert r.status_code == 200
        assert r.json()["status"] == "dry_run"
        assert r.json()["counts"]["new"] == 28
        assert await table_counts(session) == before

    async def test_dry_run_reports_the_issues_the_file_would_add(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        before = await table_counts(session)
        r = await _upload(client, MINQIN.read_bytes(), MINQIN.name, dry_run="true")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "dry_run"
        # Into an empty catalogue the Minqin list adds exactly its 4-5-6 duplicate.
        assert [
            (i["rule"], i["severity"], i["field"], i["value"], [x["seq"] for x in i["items"]])
            for i in body["validation"]
        ] == [("code.duplicate", "error", "local_code", SHARED_CODE, [4, 5, 6])]
        # The rehearsal's rows are gone, so their ids are not given.
        assert [x["id"] for x in body["validation"][0]["items"]] == [None, None, None]
        assert await table_counts(session) == before

    async def test_dry_run_of_the_imported_file_adds_no_issue(
        self, client: httpx.AsyncClient
    ) -> None:
        await _upload(client, MINQIN.read_bytes(), MINQIN.name)
        r = await _upload(client, MINQIN.read_bytes(), MINQIN.name, dry_run="true")
        assert r.status_code == 200, r.text
        assert r.json()["validation"] == []

    async def test_second_upload_is_unchanged(self, client: httpx.AsyncClient) -> None:
        await _upload(client, MINQIN.read_bytes(), MINQIN.name)
        r = await _upload(client, MINQIN.read_bytes(), MINQIN.name)
        assert r.json()["status"] == "unchanged"


class TestImportRefusals:
    @pytest.mark.parametrize(
        "data", [b"", bytes(range(256)) * 4, b"no table here\n"], ids=["empty", "random", "prose"]
    )
    async def test_bad_file_is_422_problem_and_nothing_written(
        self, client: httpx.AsyncClient, session: AsyncSession, data: bytes
    ) -> None:
        before = await table_counts(session)
        r = await _upload(client, data)
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "import.bad_format"
        assert await table_counts(session) == before

    async def test_unknown_format_is_422(self, client: httpx.AsyncClient) -> None:
        r = await _upload(client, MINQIN.read_bytes(), format="docx")
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_input"

    async def test_oversized_upload_is_413(
        self, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.settings import get_settings

        monkeypatch.setattr(get_settings(), "max_upload_bytes", 4096)
        before = await table_counts(session)
        r = await _upload(client, MINQIN.read_bytes())
        assert r.status_code == 413
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "payload_too_large"
        assert await table_counts(session) == before

    def test_path_like_file_names_are_reduced_to_a_base_name(self) -> None:
        assert safe_file_name("../../etc/passwd") == "passwd"
        assert safe_file_name("C:\\lists\\a.tsv") == "a.tsv"
        assert safe_file_name("a\x00b\n.tsv") == "ab.tsv"
        assert safe_file_name("") == "upload"
        assert safe_file_name("..") == "upload"
