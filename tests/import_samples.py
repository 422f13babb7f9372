"""Files an import must refuse, shared by the service, CLI and HTTP tests, and a list builder."""

from __future__ import annotations

import csv
import io
import json
import random

from openpyxl import Workbook

from app.services.importers.structured import FLAT_COLUMNS
from tests.factories import MINQIN


def export_rows(
    count: int, *, agency: str = "测试县医疗保障局", remarks: str = ""
) -> list[dict[str, object]]:
    """`count` items in the export's flat field names, all of one agency."""
    return [
        {
            "agency": agency,
            "seq": i + 1,
            "name": f"对第{i + 1}项违反医疗保障基金使用规定行为的处罚",
            "power_type_raw": "行政处罚",
            "exercising_body": agency,
            "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条",
            "responsibilities": "1.立案阶段责任：调查取证",
            "accountability": "没有法律和事实依据实施行政处罚的",
            "remarks": remarks,
        }
        for i in range(count)
    ]


def long_rows(count: int) -> list[dict[str, object]]:
    """Items with full-length texts (about 1.8 KB each), as long lists carry them."""
    rows = export_rows(count)
    for row in rows:
        row["legal_basis"] = f"{row['legal_basis']}：" + "定点医药机构" * 40
        row["responsibilities"] = f"{row['responsibilities']}" + "调查取证" * 30
        row["accountability"] = "1.没有法律和事实依据实施行政处罚的；" * 10
    return rows


def csv_bytes(rows: list[dict[str, object]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FLAT_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[dict[str, object]], *, formula: str | None = None) -> bytes:
    workbook = Workbook()
    try:
        sheet = workbook.active
        assert sheet is not None
        sheet.append(list(FLAT_COLUMNS))
        for row in rows:
            sheet.append([row.get(c) for c in FLAT_COLUMNS])
        if formula:
            sheet.cell(row=2, column=FLAT_COLUMNS.index("remarks") + 1, value=formula)
        buf = io.BytesIO()
        workbook.save(buf)
        return buf.getvalue()
    finally:
        workbook.close()


def _headerless_minqin() -> bytes:
    text = MINQIN.read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("序号")).encode()


def bad_files() -> dict[str, bytes]:
    """Each a file that must be refused whole: name -> content."""
    rows = export_rows(3)
    good_xlsx = xlsx_bytes(rows)
    good_json = json.dumps(rows, ensure_ascii=False).encode()
    return {
        "empty": b"",
        "random-bytes": random.Random(4).randbytes(4096),
        "truncated-xlsx": good_xlsx[: len(good_xlsx) // 2],
        "truncated-json": good_json[: len(good_json) // 2],
        "headerless-table": _headerless_minqin(),
        "xlsx-with-formula": xlsx_bytes(rows, formula="=1+1"),
        # Half a character: JSON lets a lone \ud800 escape through, no database stores it.
        "json-lone-surrogate": good_json.replace("的处罚".encode(), b"\\ud800", 1),
        "ndjson-lone-surrogate": b"\n".join(
            json.dumps(r, ensure_ascii=False).encode() for r in rows
        ).replace("的处罚".encode(), b"\\udfff", 1),
    }


# Prose: no layout an importer knows, so the message names the layouts it does know.
UNKNOWN_LAYOUT = "关于做好医疗保障工作的通知\n各有关单位：\n现将有关事项通知如下。\n".encode()
