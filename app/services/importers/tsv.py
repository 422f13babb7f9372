"""Parser for tab-separated lists whose column header may repeat before every item."""

from __future__ import annotations

import re
import unicodedata

from app.errors import ImportFormatError
from app.services.importers.records import ParsedItem, ParseProblem, ParseResult

__all__ = ["looks_like_tsv", "parse_tsv"]

SEQ = "seq"

# Header text (whitespace removed) → field. Variants seen in published 权责清单 lists.
_HEADER_ALIASES: dict[str, str] = {
    "序号": SEQ,
    "编号": SEQ,
    "事项名称": "name",
    "权力事项名称": "name",
    "权责事项名称": "name",
    "主项名称": "name",
    "主项事项名称": "name",
    "子项名称": "sub_item_name",
    "子项事项名称": "sub_item_name",
    "权力类型": "power_type",
    "权力类别": "power_type",
    "事项类型": "power_type",
    "事项类别": "power_type",
    "职权类型": "power_type",
    "职权类别": "power_type",
    "地方权力编码": "local_code",
    "权力编码": "local_code",
    "事项编码": "local_code",
    "主项编码": "local_code",
    "实施编码": "local_code",
    "子项地方权力编码": "sub_local_code",
    "子项权力编码": "sub_local_code",
    "子项编码": "sub_local_code",
    "行使主体": "exercising_body",
    "实施主体": "exercising_body",
    "承办机构": "handling_unit",
    "承办科室": "handling_unit",
    "承办单位": "handling_unit",
    "责任科室": "handling_unit",
    "实施依据": "legal_basis",
    "设定依据": "legal_basis",
    "法律依据": "legal_basis",
    "责任事项内容": "responsibilities",
    "责任事项": "responsibilities",
    "追责情形": "accountability",
    "追责情形及依据": "accountability",
    "备注": "remarks",
}
# A header row names the sequence and the item name plus at least this many known columns in
# all, so that a data row quoting a column name cannot pass for a header.
_MIN_HEADER_FIELDS = 3
# How far into a file `looks_like_tsv` searches for a header row.
_SNIFF_LINES = 50

# `（说明）` after a column name, as in `序号（编号）`.
_HEADER_NOTE_RE = re.compile(r"[（(][^）)]*[）)]$")
_WHITESPACE_RE = re.compile(r"\s+")


def _header_field(cell: str) -> str | None:
    key = _WHITESPACE_RE.sub("", unicodedata.normalize("NFKC", cell))
    field = _HEADER_ALIASES.get(key)
    if field is None:
        field = _HEADER_ALIASES.get(_HEADER_NOTE_RE.sub("", key))
    return field


def _header_columns(line: str) -> list[str | None] | None:
    """The field of each column when the line is a header row, else None.

    A column naming a field that an earlier column already named maps to None: only the first
    is read.
    """
    if "\t" not in line:
        return None
    columns: list[str | None] = []
    for cell in line.split("\t"):
        field = _header_field(cell)
        columns.append(None if field in columns else field)
    known = {field for field in columns if field is not None}
    if SEQ in known and "name" in known and len(known) >= _MIN_HEADER_FIELDS:
        return columns
    return None


def _lines(text: str) -> list[str]:
    # Only \n and \r\n end a line: a stray \r, form feed or line separator inside a cell must
    # not shift the line numbers that a clerk looks up in an editor.
    return [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]


def looks_like_tsv(text: str) -> bool:
    """Whether the text has a tab-separated header row naming 序号 and 事项名称 near the top."""
    return any(_header_columns(line) is not None for line in _lines(text)[:_SNIFF_LINES])


def _parse_seq(cell: str) -> int | None:
    value = _WHITESPACE_RE.sub("", unicodedata.normalize("NFKC", cell))
    # Spreadsheets export whole numbers as "3.0".
    value = value.removesuffix(".0")
    return int(value) if value.isascii() and value.isdigit() else None


def _is_blank(fields: list[str]) -> bool:
    return all(not field.strip() for field in fields)


def parse_tsv(text: str) -> ParseResult:
    """Parse a tab-separated list into items with raw cells.

    Every header row (one naming 序号 and 事项名称 among known columns) sets the column layout
    for the rows that follow it. A data row may lack the last column (备注) or carry extra empty
    columns; any other field count is reported as `import.bad_row` and the row is skipped.
    Rows are never merged, whatever their codes.

    Raises:
        ImportFormatError: no header row anywhere in the text.
    """
    result = ParseResult()
    columns: list[str | None] | None = None
    reported_columns: set[str] = set()
    seen_text = False
    for number, line in enumerate(_lines(text), start=1):
        fields = line.split("\t")
        if _is_blank(fields):
            continue
        header = _header_columns(line)
        if header is not None:
            columns = header
            _report_header(result, line, header, number, reported_columns)
            continue
        if columns is None:
            _before_header(result, fields, number, first=not seen_text)
            seen_text = True
            continue
        item = _item(result, fields, columns, number)
        if item is not None:
            result.items.append(item)
    if columns is None:
        raise ImportFormatError(
            "未找到表头行：制表符分隔的清单需要一行包含“序号”“事项名称”等列名的表头",
            details={"format": "tsv", "required_columns": ["序号", "事项名称"]},
        )
    return result


def _before_header(result: ParseResult, fields: list[str], number: int, *, first: bool) -> None:
    """A line above the first header: the list's title, other text, or a row without columns."""
    if len(fields) == 1 and first:
        result.title = fields[0].strip()
        return
    single = len(fields) == 1
    result.problems.append(
        ParseProblem(
            code="import.skipped_line" if single else "import.bad_row",
            message=(
                "表头行之前的文字未导入" if single else "表头行之前的数据行无法对应列名，已跳过"
            ),
            line=number,
            line_end=number,
            severity="info" if single else "error",
        )
    )


def _report_header(
    result: ParseResult,
    line: str,
    header: list[str | None],
    number: int,
    reported: set[str],
) -> None:
    """Note the columns that will not be read, once per column name."""
    for cell, field in zip(line.split("\t"), header, strict=True):
        name = cell.strip()
        if field is not None or not name or name in reported:
            continue
        reported.add(name)
        duplicate = _header_field(cell) is not None
        result.problems.append(
            ParseProblem(
                code="import.duplicate_column" if duplicate else "import.unknown_column",
                message=(
                    f"列“{name}”重复出现，仅读取第一列"
                    if duplicate
                    else f"无法识别的列“{name}”，其内容未导入"
                ),
                line=number,
                line_end=number,
                severity="warning",
            )
        )


def _item(
    result: ParseResult, fields: list[str], columns: list[str | None], number: int
) -> ParsedItem | None:
    width = len(columns)
    extra = fields[width:]
    if len(fields) < width - 1 or (extra and not _is_blank(extra)):
        result.problems.append(
            ParseProblem(
                code="import.bad_row",
                message=f"该行有 {len(fields)} 列，与表头的 {width} 列不符，已跳过",
                line=number,
                line_end=number,
                severity="error",
            )
        )
        return None
    seq: int | None = None
    cells: dict[str, str] = {}
    for field, cell in zip(columns, fields, strict=False):
        if field is None or not cell.strip():
            continue
        if field == SEQ:
            seq = _parse_seq(cell)
            if seq is None:
                result.problems.append(
                    ParseProblem(
                        code="import.bad_seq",
                        message=f"序号“{cell.strip()}”不是整数",
                        line=number,
                        line_end=number,
                        field="seq",
                        severity="warning",
                    )
                )
        else:
            cells[field] = cell
    return ParsedItem(seq=seq, cells=cells, line=number, line_end=number)
