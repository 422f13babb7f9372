"""Renders known items into the text a PDF-table extractor gives, the layout of `pdf_text`."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Columns of a 权责清单 table, in printing order; `seq` is the row number.
COLUMNS: tuple[str, ...] = (
    "seq",
    "name",
    "sub_item_name",
    "power_type",
    "exercising_body",
    "legal_basis",
    "responsibilities",
    "accountability",
    "remarks",
)
TITLES: Mapping[str, str] = {
    "seq": "序号",
    "name": "事项名称",
    "sub_item_name": "子项名称",
    "power_type": "权力类型",
    "exercising_body": "行使主体",
    "legal_basis": "实施依据",
    "responsibilities": "责任事项内容",
    "accountability": "追责情形",
    "remarks": "备注",
}

#: Column widths of the Dunhuang list, in full-width characters.
SEED_WIDTHS: Mapping[str, int] = {
    "seq": 1,
    "name": 3,
    "sub_item_name": 3,
    "power_type": 2,
    "exercising_body": 3,
    "legal_basis": 52,
    "responsibilities": 17,
    "accountability": 10,
    "remarks": 2,
}


@dataclass(frozen=True)
class PdfLayout:
    """How the table is printed and extracted.

    `widths` lists the printed columns (a subset of COLUMNS with `seq` and `name`), each in
    full-width characters; a half-width character takes half of one.
    """

    widths: Mapping[str, int] = field(default_factory=lambda: dict(SEED_WIDTHS))
    page_lines: int = 60  # cell lines per page below the column header
    min_cut: int = 3  # a row is split across pages only when this many of its lines fit
    repeat_cut_rows: bool = False  # print a row cut by a page break again whole after it
    reprint: frozenset[int] = frozenset()  # rows printed twice in a row, as item 10 of the seed
    letter_spaced: frozenset[str] = frozenset()  # columns whose cells may be letter-spaced
    blank_lines: float = 0.7  # chance of a blank line after each line
    seq_space: float = 0.3  # chance of a space before a row number
    trailing_space: float = 0.05  # chance of spaces after a line
    page_numbers: bool = False  # print `- n -` at the foot of every page
    partial_headers: bool = False  # let repeated headers between rows lose some lines
    title: str | None = "某市医疗保障局权责清单"
    titles: Mapping[str, str] = field(default_factory=lambda: dict(TITLES))  # column titles
    seed: int = 0


def display_width(text: str) -> int:
    """Width in half-width units: CJK, full-width and ambiguous characters take two."""
    return sum(1 if unicodedata.east_asian_width(ch) in {"N", "Na", "H"} else 2 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Lines of a cell `width` full-width characters wide; "\\n" in `text` forces a new line."""
    limit = 2 * width
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0
        for ch in paragraph:
            size = display_width(ch)
            if line and used + size > limit:
                lines.append(line)
                line, used = "", 0
            line, used = line + ch, used + size
        if line:
            lines.append(line)
    return lines


def render(items: Sequence[Mapping[str, str]], layout: PdfLayout) -> str:
    """The extracted text of a table holding `items` (field → text), numbered from 1.

    Each cell wraps to its column's width. Within a page a row prints column by column, as the
    extractor reads it; a row taller than the room left on the page is cut at the page foot
    and goes on (or is printed again whole) after the repeated column header, so its cells
    interleave across pages.
    """
    printer = _Printer(layout)
    for seq, item in enumerate(items, start=1):
        printer.row(seq, item)
        if seq in layout.reprint:
            printer.row(seq, item)
    return "\n".join(printer.out) + "\n"


class _Printer:
    def __init__(self, layout: PdfLayout) -> None:
        self.layout = layout
        self.columns = [c for c in COLUMNS if c in layout.widths]
        self.rng = random.Random(layout.seed)
        self.out: list[str] = []
        self.page = 1
        self.room = layout.page_lines
        if layout.title:
            self.emit(layout.title)
        self.header(whole=True)

    def emit(self, text: str) -> None:
        layout = self.layout
        if self.rng.random() < layout.trailing_space:
            text += " " * self.rng.randint(1, 20)
        self.out.append(text)
        if self.rng.random() < layout.blank_lines:
            self.out.append("")

    def header(self, *, whole: bool) -> None:
        """The column header: titles too long for their column wrap; the others, side by side,
        come out as one line."""
        lines: list[str] = []
        fitting: list[str] = []
        for column in self.columns:
            title, width = self.layout.titles[column], self.layout.widths[column]
            if len(title) <= width:
                fitting.append(title)
                continue
            if fitting:
                lines.append(" ".join(fitting))
                fitting = []
            lines += wrap(title, width)
        if fitting:
            lines.append(" ".join(fitting))
        if not whole and self.layout.partial_headers and len(lines) > 2:
            keep = self.rng.randint(2, len(lines) - 1)
            lines = lines[len(lines) - keep :]
        for line in lines:
            self.emit(line)

    def page_break(self, *, between_rows: bool) -> None:
        if self.layout.page_numbers:
            self.emit(f"- {self.page} -")
        self.page += 1
        self.header(whole=not between_rows)
        self.room = self.layout.page_lines

    def cells(self, item: Mapping[str, str]) -> dict[str, list[str]]:
        cells: dict[str, list[str]] = {}
        for column in self.columns[1:]:
            lines = wrap(item.get(column, ""), self.layout.widths[column])
            if column in self.layout.letter_spaced and self.rng.random() < 0.5:
                lines = [" ".join(line) if len(line) > 2 else line for line in lines]
            cells[column] = lines
        return cells

    def row(self, seq: int, item: Mapping[str, str]) -> None:
        cells = self.cells(item)
        height = max(1, *map(len, cells.values()))
        if height > self.room and self.room < self.layout.min_cut:
            self.page_break(between_rows=True)
        number = (" " if self.rng.random() < self.layout.seq_space else "") + str(seq)
        if height <= self.room:
            self.part(number, cells)
            self.room -= height
            return
        self.cut_row(number, cells, height)

    def cut_row(self, number: str, cells: dict[str, list[str]], height: int) -> None:
        """Print a row taller than the room left: every cell stops at the page foot."""
        cut = self.room
        self.part(number, {c: lines[:cut] for c, lines in cells.items()})
        self.page_break(between_rows=False)
        if self.layout.repeat_cut_rows and height <= self.room:
            self.part(number, cells)
            self.room -= height
            return
        rest = {c: lines[cut:] for c, lines in cells.items()}
        while max(map(len, rest.values())) > self.room:
            cut = self.room
            self.part(None, {c: lines[:cut] for c, lines in rest.items()})
            self.page_break(between_rows=False)
            rest = {c: lines[cut:] for c, lines in rest.items()}
        self.part(None, rest)
        self.room -= max(map(len, rest.values()))

    def part(self, number: str | None, cells: Mapping[str, list[str]]) -> None:
        """One page's share of a row: the number, then each cell's lines, column by column."""
        if number is not None:
            self.emit(number)
        for column in self.columns[1:]:
            for line in cells[column]:
                self.emit(line)
