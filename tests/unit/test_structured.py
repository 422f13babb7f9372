"""CSV, XLSX, JSON and NDJSON lists in the export's field names."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from openpyxl import Workbook

from app.errors import ImportFormatError
from app.services.importers import registry, structured

ROWS = [
    {
        "agency": "民勤县医疗保障局",
        "seq": 1,
        "name": "对骗取医保基金支出的处罚",
        "power_type_raw": "行政处罚",
        "local_code": "11620621MB176555834620236001000",
        "exercising_body": "民勤县医疗保障局",
        "legal_basis": "《中华人民共和国社会保险法》第八十七条",
        "responsibilities": "1.立案阶段责任",
        "accountability": "1.没有法律依据的",
    },
    {
        "agency": "敦煌市医疗保障局",
        "seq": 2,
        "name": "医疗保险基金监督管理",
        "power_type_raw": "行政监督",
        "exercising_body": "敦煌市医疗保障局",
        "legal_basis": "《社会保险法》",
        "responsibilities": "监督",
        "accountability": "追责",
        "remarks": "=1+1 is text here",
    },
]


def _csv(rows: list[dict[str, object]]) -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(structured.FLAT_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _xlsx(rows: list[dict[str, object]], formula: str | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(structured.FLAT_COLUMNS))
    for row in rows:
        ws.append([row.get(c) for c in structured.FLAT_COLUMNS])
    for line in ws.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that starts with "=", as the export writes it
    if formula:
        ws["F3"] = formula
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _check(fmt: str, data: bytes) -> None:
    detected, result = registry.read(data)
    assert detected == fmt
    assert [i.cells["name"] for i in result.items] == [r["name"] for r in ROWS]
    assert [i.agency for i in result.items] == [r["agency"] for r in ROWS]
    assert [i.seq for i in result.items] == [1, 2]
    assert result.items[0].cells["local_code"] == ROWS[0]["local_code"]
    assert result.items[1].cells["power_type"] == "行政监督"
    assert "sub_item_name" not in result.items[0].cells


class TestFormats:
    def test_csv_with_bom_is_recognised_and_read(self) -> None:
        _check("csv", _csv(ROWS))

    def test_json_list_and_items_wrapper(self) -> None:
        _check("json", json.dumps(ROWS, ensure_ascii=False).encode())
        _check("json", json.dumps({"items": ROWS}, ensure_ascii=False).encode())

    def test_json_in_item_shape_with_nested_agency_and_power_type(self) -> None:
        nested = [
            {
                **r,
                "agency": {"name": r["agency"]},
                "power_type": {"code": "x", "raw": r["power_type_raw"]},
            }
            for r in ROWS
        ]
        _check("json", json.dumps(nested, ensure_ascii=False).encode())

    def test_ndjson(self) -> None:
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n"
        _check("ndjson", text.encode())

    def test_xlsx(self) -> None:
        _check("xlsx", _xlsx(ROWS))

    def test_xlsx_text_starting_with_equals_is_kept_as_text(self) -> None:
        _, result = registry.read(_xlsx(ROWS))
        assert result.items[1].cells["remarks"] == "=1+1 is text here"

    def test_ndjson_line_numbers_are_file_lines(self) -> None:
        text = "\n" + "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS)
        _, result = registry.read(text.encode(), "ndjson")
        assert [i.line for i in result.items] == [2, 3]


class TestRefusals:
    def test_xlsx_with_a_formula_is_refused(self) -> None:
        with pytest.raises(ImportFormatError, match="formula"):
            registry.read(_xlsx(ROWS, formula='=HYPERLINK("http://x")'))

    def test_zip_bomb_disguised_as_xlsx_is_refused_before_expanding(self) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("xl/workbook.xml", "<workbook/>")
            z.writestr("xl/worksheets/sheet1.xml", b"\0" * (structured.MAX_XLSX_UNCOMPRESSED + 1))
        with pytest.raises(ImportFormatError, match="expands"):
            registry.read(buf.getvalue())

    def test_zip_that_is_not_a_workbook_is_refused(self) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("readme.txt", "hello")
        with pytest.raises(ImportFormatError, match="not an XLSX"):
            registry.read(buf.getvalue())

    def test_table_without_name_column_is_refused(self) -> None:
        with pytest.raises(ImportFormatError):
            registry.read(b"foo,bar\n1,2\n", "csv")

    def test_json_that_is_not_a_list_is_refused(self) -> None:
        with pytest.raises(ImportFormatError):
            registry.read(b'{"name": "x"}', "json")

    def test_deeply_nested_json_is_refused_cleanly(self) -> None:
        with pytest.raises(ImportFormatError):
            registry.read(b"[" * 100_000 + b"]" * 100_000, "json")

    def test_non_integer_seq_is_a_problem_not_a_crash(self) -> None:
        rows = [{**ROWS[0], "seq": "一"}]
        _, result = registry.read(json.dumps(rows, ensure_ascii=False).encode(), "json")
        assert result.items[0].seq is None
        assert [p.code for p in result.problems] == ["import.bad_seq"]
