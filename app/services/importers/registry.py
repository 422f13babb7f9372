"""Reading a file: decode its bytes, recognise its layout from content, run the parser."""

from __future__ import annotations

import json
from collections.abc import Callable

from app.errors import ImportFormatError
from app.services.importers import pdf_text, structured, tsv
from app.services.importers.records import ParseResult

FORMATS: tuple[str, ...] = ("tsv", "pdf-text", "csv", "xlsx", "json", "ndjson")
_ZIP_MAGIC = b"PK\x03\x04"


def decode(data: bytes) -> str:
    """Text of a list file: UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    if not data.strip():
        raise ImportFormatError("the file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            break
        return text.replace("\r\n", "\n").replace("\r", "\n")
    raise ImportFormatError("the file is not text in UTF-8 or GB18030/GBK")


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return "\x00" in sample or controls > len(sample) // 100


def _looks_like_json(text: str) -> str | None:
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        json.loads(stripped)
    except RecursionError:
        return None
    except json.JSONDecodeError as exc:
        first = stripped.splitlines()[0].strip()
        if first.startswith("{") and first.endswith("}"):
            return "ndjson"
        # No list layout starts with a bracket: this is a JSON export that was cut short or
        # damaged, and saying so helps more than "unrecognised layout".
        raise ImportFormatError(
            f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}): "
            "cut short or damaged"
        ) from exc
    return "json"


def _looks_like_csv(text: str) -> bool:
    header = next((line for line in text.splitlines() if line.strip()), "")
    columns = {c.strip().strip('"') for c in header.split(",")}
    return "name" in columns and len(columns) > 2


def detect(data: bytes, text: str | None) -> str:
    """The layout of a file, from its content alone (never its name)."""
    if data.startswith(_ZIP_MAGIC):
        return "xlsx"
    if text is None:
        raise ImportFormatError("the file is not text in UTF-8 or GB18030/GBK")
    json_kind = _looks_like_json(text)
    if json_kind:
        return json_kind
    if tsv.looks_like_tsv(text):
        return "tsv"
    if _looks_like_csv(text):
        return "csv"
    if pdf_text.looks_like_pdf_text(text):
        return "pdf-text"
    raise ImportFormatError(
        "unrecognised layout: expected a 权责清单 table (TSV, PDF text) or an export (CSV, XLSX, "
        "JSON, NDJSON)"
    )


_TEXT_PARSERS: dict[str, Callable[[str], ParseResult]] = {
    "tsv": tsv.parse_tsv,
    "pdf-text": pdf_text.parse_pdf_text,
    "csv": structured.parse_csv,
    "json": structured.parse_json,
    "ndjson": structured.parse_ndjson,
}


def read(data: bytes, fmt: str = "auto") -> tuple[str, ParseResult]:
    """Parse `data` as `fmt` (or the recognised layout); returns the format used and the result."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ImportFormatError(f"unknown format '{fmt}': use auto or one of {', '.join(FORMATS)}")
    if fmt == "xlsx" or (fmt == "auto" and data.startswith(_ZIP_MAGIC)):
        return "xlsx", structured.parse_xlsx(data)
    text = decode(data)
    if fmt == "auto":
        fmt = detect(data, text)
    return fmt, _TEXT_PARSERS[fmt](text)
