"""CSV, XLSX, JSON and NDJSON lists in the export's field names, so an export imports back."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from app.errors import ImportFormatError, ImportTooLargeError
from app.services.importers.records import ITEM_FIELDS, ParsedItem, ParseProblem, ParseResult

# Flat columns of the CSV/XLSX export, in order. JSON and NDJSON carry the Item JSON instead.
FLAT_COLUMNS: tuple[str, ...] = (
    "id",
    "agency",
    "agency_credit_code",
    "agency_division_code",
    "seq",
    "name",
    "sub_item_name",
    "power_type_code",
    "power_type_label",
    "power_type_raw",
    "local_code",
    "sub_local_code",
    "exercising_body",
    "handling_unit",
    "legal_basis",
    "responsibilities",
    "accountability",
    "remarks",
    "status",
    "version",
    "source_file",
    "source_line",
    "updated_at",
)

# Limits that keep a hostile spreadsheet from exhausting memory (a ZIP bomb looks like XLSX).
# zipfile never inflates a member past the size its header declares (a lying header fails the
# CRC check), so checking the declared sizes up front bounds what is ever unpacked.
MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_ROWS = 2_000_000
# The export has 23 columns; the largest catalogue is a few hundred thousand items.
MAX_XLSX_COLUMNS = 100
MAX_XLSX_CELLS = 10_000_000


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip() else None


def _power_type(record: Mapping[str, Any]) -> str | None:
    nested = record.get("power_type")
    if isinstance(nested, Mapping):
        return _text(nested.get("raw")) or _text(nested.get("label")) or _text(nested.get("code"))
    return (
        _text(nested)
        or _text(record.get("power_type_raw"))
        or _text(record.get("power_type_label"))
        or _text(record.get("power_type_code"))
    )


def _agency(record: Mapping[str, Any]) -> str | None:
    agency = record.get("agency")
    if isinstance(agency, Mapping):
        return _text(agency.get("name"))
    return _text(agency)


def _seq(value: Any, line: int, problems: list[ParseProblem]) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        problems.append(
            ParseProblem("import.bad_seq", f"序号“{text[:20]}”不是整数", line=line, field="seq")
        )
        return None


def _status(value: Any, line: int, problems: list[ParseProblem]) -> str | None:
    text = (_text(value) or "").strip().lower()
    if not text:
        return None
    if text in {"active", "withdrawn"}:
        return text
    problems.append(
        ParseProblem("import.bad_status", "状态应为 active 或 withdrawn", line=line, field="status")
    )
    return None


def record_to_item(
    record: Mapping[str, Any], line: int, problems: list[ParseProblem]
) -> ParsedItem | None:
    """One exported record (flat or nested) as a parsed item; None for an empty record."""
    cells: dict[str, str] = {}
    for name in ITEM_FIELDS:
        value = _power_type(record) if name == "power_type" else _text(record.get(name))
        if value is not None:
            cells[name] = value
    if not cells:
        return None
    source = record.get("source")
    page = source.get("page") if isinstance(source, Mapping) else None
    return ParsedItem(
        seq=_seq(record.get("seq"), line, problems),
        cells=cells,
        line=line,
        line_end=line,
        page=page if isinstance(page, int) else None,
        agency=_agency(record),
        status=_status(record.get("status"), line, problems),
    )


def _collect(records: Iterable[tuple[int, Mapping[str, Any]]]) -> ParseResult:
    result = ParseResult()
    for line, record in records:
        if len(result.items) >= MAX_ROWS:
            raise ImportFormatError(f"the file has more than {MAX_ROWS} rows")
        if not isinstance(record, Mapping):
            result.problems.append(
                ParseProblem(
                    "import.bad_row", "该行不是一个对象（JSON object）", line=line, severity="error"
                )
            )
            continue
        item = record_to_item(record, line, result.problems)
        if item is not None:
            result.items.append(item)
    if not result.items and not any(p.severity == "error" for p in result.problems):
        raise ImportFormatError("the file contains no items")
    return result


def _require_name_column(columns: Iterable[str | None]) -> None:
    present = {c for c in columns if c}
    if "name" not in present:
        raise ImportFormatError(
            "the table has no `name` column: expected a header row with the export's field names"
        )


def parse_csv(text: str) -> ParseResult:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = reader.fieldnames or []
    except csv.Error as exc:
        raise ImportFormatError(f"the CSV file is malformed: {exc}") from exc
    _require_name_column(f.strip() for f in fields)

    def rows() -> Iterator[tuple[int, Mapping[str, Any]]]:
        try:
            for row in reader:
                yield reader.line_num, {(k or "").strip(): v for k, v in row.items()}
        except csv.Error as exc:
            raise ImportFormatError(
                f"the CSV file is malformed near line {reader.line_num}"
            ) from exc

    return _collect(rows())


def _json_records(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping) and isinstance(document.get("items"), list):
        return list(document["items"])
    raise ImportFormatError('the JSON document must be a list of items or {"items": [...]}')


# A \uD800-\uDFFF escape: JSON lets it through, but alone it is half a character, not text,
# and no database can store it. Only files holding such an escape pay for the full check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _refuse_lone_surrogates(document: Any, where: str) -> None:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ImportFormatError(
            f"{where} holds a \\u escape of half a character (a lone UTF-16 surrogate): "
            "the file is damaged"
        ) from exc


def parse_json(text: str) -> ParseResult:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ImportFormatError("the file is not valid JSON") from exc
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(document, "the file")
    # JSON has no line per record; the record's position (1-based) stands in for the line.
    return _collect(enumerate(_json_records(document), start=1))


def parse_ndjson(text: str) -> ParseResult:
    def records() -> Iterator[tuple[int, Any]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ImportFormatError(f"line {number} is not valid JSON") from exc
            if _SURROGATE_ESCAPE.search(line):
                _refuse_lone_surrogates(record, f"line {number}")
            yield number, record

    return _collect(records())


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise ImportFormatError("the file is not a valid XLSX workbook") from exc
    if total > MAX_XLSX_UNCOMPRESSED:
        raise ImportTooLargeError("the XLSX workbook expands to more than 200 MB: refused")
    if "xl/workbook.xml" not in names:
        raise ImportFormatError("the file is a ZIP archive but not an XLSX workbook")


def _check_sheet_size(rows: int | None, columns: int | None, cells: int | None = None) -> None:
    if rows is None or columns is None:
        return
    if columns > MAX_XLSX_COLUMNS:
        raise ImportTooLargeError(
            f"the XLSX sheet has more than {MAX_XLSX_COLUMNS} columns: refused"
        )
    if rows > MAX_ROWS or (cells if cells is not None else rows * columns) > MAX_XLSX_CELLS:
        raise ImportTooLargeError(
            f"the XLSX sheet has more than {MAX_ROWS} rows or {MAX_XLSX_CELLS} cells: refused"
        )


def parse_xlsx(data: bytes) -> ParseResult:
    """First worksheet; header row of field names. Formulas are refused, not evaluated."""
    from openpyxl import load_workbook

    _check_zip(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise ImportFormatError("the XLSX workbook cannot be read") from exc
    try:
        sheet = workbook.worksheets[0]
        # The size the sheet declares (<dimension>) refuses an honest giant before any row is
        # read; counting while reading refuses one that declares less than it holds.
        _check_sheet_size(getattr(sheet, "max_row", None), getattr(sheet, "max_column", None))
        rows = sheet.iter_rows()
        header = next(rows, None)
        if header is None:
            raise ImportFormatError("the XLSX workbook's first sheet is empty")
        _check_sheet_size(1, len(header))
        columns = [(_text(c.value) or "").strip() for c in header]
        _require_name_column(columns)

        def records() -> Iterator[tuple[int, Mapping[str, Any]]]:
            cells = len(header)
            for number, row in enumerate(rows, start=2):
                cells += len(row)
                _check_sheet_size(number, len(row), cells)
                # A formula cell (type "f"), unlike text that merely starts with "=", would need
                # evaluating: the workbook is refused rather than guessed at.
                if any(getattr(cell, "data_type", None) == "f" for cell in row):
                    raise ImportFormatError(
                        f"row {number} holds a formula: formulas are not imported"
                    )
                yield number, dict(zip(columns, (cell.value for cell in row), strict=False))

        return _collect(records())
    finally:
        workbook.close()
