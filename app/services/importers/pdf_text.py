"""Parser for text extracted from a PDF table: one text line per rendered line of a cell."""

from __future__ import annotations

import itertools
import math
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, NamedTuple

from app.errors import ImportFormatError
from app.services.codes import POWER_TYPES
from app.services.importers.records import ParsedItem, ParseProblem, ParseResult

__all__ = ["POWER_TYPE_LABELS", "looks_like_pdf_text", "parse_pdf_text"]

SEQ: Final = "seq"

# Column title (whitespace removed) → field. The extractor splits narrow titles over several
# lines (`序`/`号`) and runs wide ones together (`实施依据 责任事项内容 追责情形 备注`), so the
# header is read as one string and cut into these titles.
_TITLES: Final[dict[str, str]] = {
    "序号": SEQ,
    "编号": SEQ,
    "事项名称": "name",
    "权力事项名称": "name",
    "权责事项名称": "name",
    "主项名称": "name",
    "子项名称": "sub_item_name",
    "权力类型": "power_type",
    "权力类别": "power_type",
    "事项类型": "power_type",
    "职权类型": "power_type",
    "职权类别": "power_type",
    "地方权力编码": "local_code",
    "权力编码": "local_code",
    "子项地方权力编码": "sub_local_code",
    "行使主体": "exercising_body",
    "实施主体": "exercising_body",
    "承办机构": "handling_unit",
    "承办科室": "handling_unit",
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
_TITLE_MAX_LEN: Final = max(map(len, _TITLES))
# A header names 序号 and 事项名称 plus enough other columns that prose cannot pass for one.
_MIN_HEADER_FIELDS: Final = 4
# How many non-blank lines from the top may hold the title, the header and row 1's number.
_SNIFF_LINES: Final = 120

#: Power-type labels recognised in the 权力类型 column: GB/T 39046 types plus labels that local
#: lists use although they are not standard (行政监督 for inspection, 行政备案, …).
POWER_TYPE_LABELS: Final = frozenset(POWER_TYPES.values()) | {
    "行政监督",
    "行政备案",
    "行政审批",
    "其他类别事项",
    "其他权力",
    "其他职权",
}
_LABEL_PREFIXES: Final = frozenset(
    label[:size] for label in POWER_TYPE_LABELS for size in range(1, len(label))
)
# Longest run of lines one type cell may take: one character per line at worst.
_MAX_TYPE_LINES: Final = max(map(len, POWER_TYPE_LABELS))

_WS_RE: Final = re.compile(r"\s+")
_SEQ_RE: Final = re.compile(r"\d{1,4}")
# Page numbers as PDF exporters print them: `- 3 -`, `第3页`, `第3页共9页`, `3/9`.
_PAGE_NO_RE: Final = re.compile(r"[-—–－]\d+[-—–－]|第\d+页(?:共\d+页)?|共\d+页第\d+页|\d+/\d+")
# Lines that open a paragraph inside a cell: the line before one may end short without being
# the last line of its cell (`1.` `2、` `（一）` `三、` `第三条` `【规范性文件】` `《…》`).
_NUMERALS: Final = "一二三四五六七八九十"
_NUMBER_RE: Final = re.compile(rf"(?:(\d{{1,2}})[.．、](?!\d)|[（(]?([{_NUMERALS}])[)）、.．])")
_PARAGRAPH_RE: Final = re.compile(
    r"\d{1,2}(?:[.．、]\d{1,2})*[.．、](?!\d)"
    r"|[（(][一二三四五六七八九十\d]{1,3}[)）]"
    r"|[一二三四五六七八九十]{1,3}[、.．]"
    r"|第[一二三四五六七八九十百零〇\d]+[条章款]"
    r"|[【《]"
)

# Costs of the column assignment (`_Segment`), in −log-chance units: the likelier a reading
# of the lines, the cheaper. A line that does not fit its column rules a reading out.
_OVERFLOW: Final = 50.0
# A line inside a paragraph fills its column, give or take this share (more for a
# letter-spaced line, whose spaces took the room), else costs _SHORT_LINE and more.
_FULL_SLACK: Final = 0.12
_SPREAD_SLACK: Final = 0.25
_SHORT_LINE: Final = 4.0
# The last line of a paragraph may have any width: log(column width / this band of widths
# within which full lines fall) says how unlikely its particular width is.
_FULL_BAND: Final = 3
# A sentence seldom ends exactly at the end of a wrapped line.
_STOP_INSIDE: Final = 3.0
_STOPS: Final = frozenset("。；;!！？?")
# A cell mostly ends with these (a colon announces more text, so it closes nothing).
_CLOSERS: Final = frozenset("。；;）)》」』”.!！？?")
# A cell opens with a paragraph mark, numbered 1 if numbered, seldom with a later number.
_OPENS: Final = 0.5
_OPENS_UNMARKED: Final = 0.9
_OPENS_LATE: Final = 2.5
# Numbered paragraphs of a cell follow one another: `1.` after `3.` starts another cell.
_RESTART: Final = 3.0
# Columns every row fills, and columns filled in almost every row of a 权责清单.
_REQUIRED: Final = frozenset({"name", "power_type"})
_USUAL: Final = frozenset({"exercising_body", "legal_basis", "responsibilities", "accountability"})
_MISSING: Final = 6.0
_EMPTY: Final = 2.0
# A type cell off the vocabulary, or cut by a page break.
_UNKNOWN_TYPE: Final = 2.0
_CUT_TYPE: Final = 0.5
# Page breaks. A cell that ended before the break printing more after it; claiming that the
# break cut a cell (the next page must bear it out); a cell going on after the break although
# its last line before it looked like an end; a cell cut short of a value that the column
# repeats ending otherwise; how often a value must have been seen to count as repeated.
_CLOSED_COLUMN: Final = 4.0
_CUT_CELL: Final = 1.5
_ROUNDED: Final = 1.0
_UNKNOWN_VALUE: Final = 2.0
_KNOWN_AFTER: Final = 2
# How many weakly attested widths may be no column's; how many rows tell which.
_DOUBTFUL_WIDTHS: Final = 3
_SAMPLE_ROWS: Final = 6
# How far from a first guess the height of a page-cut row is searched.
_HEIGHT_SPAN: Final = 3
# Learned shares are kept this far from 0 and 1, where −log explodes, and start from the
# default as if seen in this many cells.
_SHARE_FLOOR: Final = 0.05
_PRIOR_CELLS: Final = 4


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based line number in the source
    raw: str  # the line as the source has it
    text: str  # without any whitespace
    width: int  # display width of `text`, full-width characters counting 2
    # Letter-spaced (`对 隐 匿`, `1. 《 社 会 保 险 法 》`): the PDF spread the text over the
    # whole cell width, so the line is a full one whatever `width` says.
    spread: bool = False


@dataclass(frozen=True, slots=True)
class _Header:
    fields: tuple[str, ...]  # column fields in order, SEQ first
    text: str  # the header's titles run together
    spans: tuple[tuple[int, int], ...]  # where each title sits in `text`
    start: int  # index (into the non-blank lines) of the header's first line
    end: int  # index after its last line


@dataclass(slots=True)
class _Row:
    seq: int
    line: int
    page: int
    first_text: str  # the row's first content line, to recognise the row printed again
    repeat: bool = False
    # Lines of the row between page breaks; an empty list marks a break at the row's end.
    segments: list[list[_Line]] = field(default_factory=lambda: [[]])
    line_end: int = 0


@dataclass(frozen=True, slots=True)
class _Column:
    field: str
    width: int  # learned width of a full line; 0 when the column never showed one
    is_type: bool
    # Share of its cells that end with a stop (。；…): text columns mostly, names never.
    closes: float = 0.6

    @property
    def limit(self) -> int:
        return _limit(self.width)


def _limit(width: int) -> int:
    """Widest line a column of this width holds: half-width characters and hanging punctuation
    overshoot a full line a little."""
    return width + max(1, width // 25)


@dataclass(frozen=True, slots=True)
class _Context:
    first: bool  # the row's first segment: it must hold the type cell
    cut: bool  # a page break follows: cells may stop mid-way
    closed: frozenset[int]  # columns that ended in an earlier segment
    going_on: Mapping[int, float]  # columns the previous segment cut, and the cost of no rest
    rounded: frozenset[int]  # columns that filled the previous segment but seemed to end there
    numbers: Mapping[int, int]  # last paragraph number each column printed before
    rests: Mapping[int, frozenset[str]]  # how cells cut short of a known value may end
    type_prefix: str  # type text printed in earlier segments
    height: int | None = None  # lines of a cut cell in this segment, once guessed


_Piece = _Line | None  # None marks a page break


def _display_width(text: str) -> int:
    # Ambiguous-width characters (“ ” … ①) are set full-width in Chinese documents.
    return sum(1 if unicodedata.east_asian_width(ch) in {"N", "Na", "H"} else 2 for ch in text)


def _is_spread(raw: str) -> bool:
    gaps = raw.strip().split(" ")
    return len(gaps) >= 3 and sum(len(gap) <= 2 for gap in gaps) * 4 >= len(gaps) * 3


def _read_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        raw = raw.removesuffix("\r")
        compact = _WS_RE.sub("", raw)
        if compact:
            lines.append(_Line(number, raw, compact, _display_width(compact), _is_spread(raw)))
    return lines


def _is_seq(line: _Line) -> bool:
    return _SEQ_RE.fullmatch(unicodedata.normalize("NFKC", line.text)) is not None


def _split_titles(text: str) -> list[tuple[str, int, int]] | None:
    """Cut `text` into column titles, longest title first; None when some part is no title."""
    titles: list[tuple[str, int, int]] = []
    at = 0
    while at < len(text):
        for size in range(min(_TITLE_MAX_LEN, len(text) - at), 0, -1):
            found = _TITLES.get(text[at : at + size])
            if found is not None:
                titles.append((found, at, at + size))
                at += size
                break
        else:
            return None
    return titles


def _header_from(lines: Sequence[_Line], start: int, end: int) -> _Header | None:
    text = "".join(line.text for line in lines[start:end])
    titles = _split_titles(text)
    if titles is None:
        return None
    fields = tuple(title[0] for title in titles)
    if (
        fields[0] != SEQ
        or "name" not in fields
        or len(set(fields)) != len(fields)
        or len(fields) < _MIN_HEADER_FIELDS
    ):
        return None
    spans = tuple((title[1], title[2]) for title in titles)
    return _Header(fields, text, spans, start, end)


def _find_header(lines: Sequence[_Line]) -> _Header | None:
    """The header that ends right before the first sequence number, taken as long as it parses.

    It must come near the top. Lines before it are the title; a TSV header never matches
    because its tabs are cells.
    """
    lines = lines[:_SNIFF_LINES]
    for end, line in enumerate(lines):
        if not _is_seq(line) or any("\t" in ln.raw for ln in lines[:end]):
            continue
        for start in range(end):
            header = _header_from(lines, start, end)
            if header is not None:
                return header
    return None


def looks_like_pdf_text(text: str) -> bool:
    """Whether the text starts like a PDF-table extraction: column titles, then row 1."""
    return _find_header(_read_lines(text)) is not None


# --- Page furniture ------------------------------------------------------------------------------


def _header_run_end(lines: Sequence[_Line], at: int, header: _Header) -> int:
    """Index after the repeated column header starting at `lines[at]`; `at` when none does.

    A repeat may lose some titles, but its pieces keep the header's order. Short pieces such as
    `情形` or `权力` also end ordinary cells, so a run counts only when it touches two titles,
    or, right before a sequence number, spreads one whole title over several lines (`行使`/`主体`).
    """
    pos, end = 0, at
    touched: set[int] = set()
    while end < len(lines):
        found = header.text.find(lines[end].text, pos)
        if found < 0:
            break
        pos = found + len(lines[end].text)
        touched |= {i for i, (a, b) in enumerate(header.spans) if a < pos and found < b}
        end += 1
    if end == at:
        return at
    before_seq = end < len(lines) and _is_seq(lines[end])
    whole_title = before_seq and end - at >= 2 and _covers_whole_title(lines[at:end], header)
    return end if len(touched) >= 2 or whole_title else at


def _covers_whole_title(run: Sequence[_Line], header: _Header) -> bool:
    text = "".join(line.text for line in run)
    return any(header.text[a:b] == text for a, b in header.spans)


def _page_pieces(lines: Sequence[_Line], header: _Header, title: str | None) -> list[_Piece]:
    """Content lines after the first header, with None where a page break was printed."""
    pieces: list[_Piece] = []
    at = header.end
    while at < len(lines):
        line = lines[at]
        run_end = _header_run_end(lines, at, header)
        if run_end > at:
            # A bare number right before a page header is the previous page's number.
            if pieces and pieces[-1] is not None and _is_seq(pieces[-1]):
                pieces.pop()
            pieces.append(None)
            at = run_end
            continue
        normal = unicodedata.normalize("NFKC", line.text)
        if line.text != title and not _PAGE_NO_RE.fullmatch(normal):
            pieces.append(line)
        at += 1
    return pieces


# --- Rows ----------------------------------------------------------------------------------------


def _next_line(pieces: Sequence[_Piece], at: int) -> _Line | None:
    return next((p for p in itertools.islice(pieces, at + 1, None) if p is not None), None)


def _starts_row(line: _Line, nxt: _Line | None, current: _Row | None, first_width: int) -> bool:
    """Whether `line` is a sequence number opening a row (or printing the current one again)."""
    if nxt is None or not _is_seq(line) or _is_seq(nxt):
        return False
    if current is None:
        return True
    value = int(unicodedata.normalize("NFKC", line.text))
    if value == current.seq + 1:
        return True
    if value == current.seq:
        return nxt.text == current.first_text
    # A gap in the numbering: believe it only when a narrow name cell follows, as after every
    # sequence number so far, and not a line of some wide cell.
    return current.seq + 1 < value <= current.seq + 5 and nxt.width <= first_width


def _split_rows(pieces: Sequence[_Piece], result: ParseResult) -> list[_Row]:
    rows: list[_Row] = []
    page, first_width = 1, 0
    current: _Row | None = None
    for at, piece in enumerate(pieces):
        if piece is None:
            page += 1
            if current is not None:
                current.segments.append([])
            continue
        nxt = _next_line(pieces, at)
        if nxt is not None and _starts_row(piece, nxt, current, first_width):
            current = _open_row(piece, nxt, current, page, result)
            rows.append(current)
            first_width = max(first_width, nxt.width)
        elif current is None:
            _stray(result, piece)
        else:
            current.segments[-1].append(piece)
            current.line_end = piece.number
    return rows


def _open_row(
    line: _Line, nxt: _Line, current: _Row | None, page: int, result: ParseResult
) -> _Row:
    seq = int(unicodedata.normalize("NFKC", line.text))
    if current is not None and seq > current.seq + 1:
        result.problems.append(
            ParseProblem(
                code="import.seq_gap",
                message=f"序号从 {current.seq} 跳到 {seq}，中间的序号缺失",
                line=line.number,
                line_end=line.number,
                severity="warning",
            )
        )
    repeat = current is not None and seq == current.seq
    return _Row(seq, line.number, page, nxt.text, repeat=repeat, line_end=line.number)


def _stray(result: ParseResult, line: _Line) -> None:
    result.problems.append(
        ParseProblem(
            code="import.bad_row",
            message="表格第一项之前的文字无法识别，已跳过",
            line=line.number,
            line_end=line.number,
            severity="warning",
        )
    )


# --- Learning the column widths ------------------------------------------------------------------


def _type_run(segment: Sequence[_Line]) -> tuple[int, int] | None:
    """The first run of lines after the first that spells a power type: (start, end)."""
    for start in range(1, len(segment)):
        text = ""
        for end in range(start, min(len(segment), start + _MAX_TYPE_LINES)):
            text += segment[end].text
            if text in POWER_TYPE_LABELS:
                return start, end + 1
            if text not in _LABEL_PREFIXES:
                break
    return None


def _similar(a: int, b: int) -> bool:
    return abs(a - b) <= max(1, round(0.06 * max(a, b)))


def _looks_full(group: Sequence[_Line], i: int) -> bool:
    """Whether group[i] is likely a full line of its column.

    True of the group's first line (its first cell's first line, whole or full) and of a line
    that wrapped: one that a line no wider continues in the same paragraph, or that continues
    a line about as wide. Lines that merely have the same width, such as one-line clauses
    `1.…的；` `2.…的；`, prove nothing.
    """
    line = group[i]
    if i == 0:
        return True
    continues = not _PARAGRAPH_RE.match(line.text)
    if continues and _similar(line.width, group[i - 1].width):
        return True
    if i + 1 == len(group):
        return False
    nxt = group[i + 1]
    wrapped = nxt.width <= line.width or _similar(line.width, nxt.width)
    return wrapped and not _PARAGRAPH_RE.match(nxt.text)


class _Seen(NamedTuple):
    """A line that looks full: its width, where it sits in its group (0 to 1), which row."""

    width: int
    spot: float
    row: int


def _observations(group: Sequence[_Line], row: int) -> list[_Seen]:
    last = max(1, len(group) - 1)
    return [_Seen(ln.width, i / last, row) for i, ln in enumerate(group) if _looks_full(group, i)]


def _radius(width: int) -> int:
    return max(1, round(0.08 * width))


class _Peak(NamedTuple):
    """A column width found in the data: how many lines show it, where they sit (0 to 1)."""

    width: int
    seen: int
    spot: float


def _peaks(found: Sequence[_Seen], wanted: int, first: int | None) -> list[_Peak]:
    """Widths of the columns in a group, in column order (by where their lines sit in rows).

    A width is a column's when many full-looking lines have it, give or take a few units, in
    a fair share of the rows: a chance pair of short lines does not make a column. `first`,
    the usual width of the group's first line, is the first column's whatever its count.
    """
    counts = Counter(seen.width for seen in found)
    least = max(2, math.ceil(0.02 * len(found)))
    rows = len({seen.row for seen in found})
    least_rows = max(min(2, rows), math.ceil(0.25 * rows))
    near: dict[int, list[_Seen]] = {
        width: [seen for seen in found if abs(seen.width - width) <= int(0.04 * width)]
        for width in counts
    }
    peaks: list[int] = [first] if first in near else []
    for width in sorted(near, key=lambda w: (-len(near[w]), -w)):
        if len(near[width]) < least or len(peaks) == wanted:
            break
        if len({seen.row for seen in near[width]}) < least_rows:
            continue
        if all(abs(width - peak) > _radius(max(width, peak)) for peak in peaks):
            peaks.append(width)
    found_peaks = [
        _Peak(
            _full_width(peak, counts),
            len(near[peak]),
            # The first column comes first, whatever other columns' lines are near its width.
            -1.0
            if peak == first
            else statistics.median(s.spot for s in found if _nearest(s.width, peaks) == peak),
        )
        for peak in peaks
    ]
    return sorted(found_peaks, key=lambda peak: peak.spot)


def _nearest(width: int, peaks: Sequence[int]) -> int:
    return min(peaks, key=lambda peak: (abs(width - peak), -peak))


def _full_width(peak: int, counts: Counter[int]) -> int:
    """The widest line width seen repeatedly just above the peak: the column's real width."""
    above = [w for w, n in counts.items() if peak <= w <= peak + _radius(peak) and n >= 2]
    return max(above, default=peak)


def _learn_widths(rows: Sequence[_Row], fields: Sequence[str]) -> list[dict[str, int]]:
    """Width of a full line in each column, measured from rows' first page segments.

    The power type, found by its vocabulary, splits a row into the columns before it (name,
    sub-item) and after it (body and the wide columns); in each part the widths that full
    lines repeat are the column widths, ordered by where in the row their lines sit. The first
    answer takes every width found; the others each drop one weakly attested width, in case it
    is no column's (`_calibrate` chooses).
    """
    has_type = "power_type" in fields
    cut = fields.index("power_type") if has_type else 0
    before: list[list[_Line]] = []
    after: list[list[_Line]] = []
    types: list[int] = []
    for row in rows:
        segment = next((s for s in row.segments if s), [])
        run = _type_run(segment) if has_type else (0, 0)
        if run is not None:
            before.append(segment[: run[0]])
            after.append(segment[run[1] :])
            types.append(max((line.width for line in segment[run[0] : run[1]]), default=0))
    leading = _group_widths(before, fields[:cut])
    trailing = _group_widths(after, fields[cut + 1 :] if has_type else fields)
    fixed = {"power_type": Counter(types).most_common(1)[0][0]} if types else {}
    answers = [leading[0] | trailing[0] | fixed]
    answers += [other | trailing[0] | fixed for other in leading[1:]]
    answers += [leading[0] | other | fixed for other in trailing[1:]]
    return answers


def _group_widths(groups: Sequence[Sequence[_Line]], fields: Sequence[str]) -> list[dict[str, int]]:
    """Widths of consecutive columns from their lines in many rows; 0 for a column not seen.

    Lines wider than every width found belong to a column whose cells seldom wrap: the widest
    of them is that column's width, placed where those lines sit. One width more than there
    are columns is taken, in case a chance one outnumbers a real one; the answers each drop
    one or two of the least attested (the first answer drops none, if they fit).
    """
    found = [seen for row, group in enumerate(groups) for seen in _observations(group, row)]
    # A group's first line is its first cell's, whole or full: the one width sure to be seen.
    firsts = Counter(group[0].width for group in groups if group)
    first = max(firsts, key=lambda w: (firsts[w], w)) if firsts else None
    peaks = _peaks(found, len(fields) + 1, first)
    limit = max((_limit(peak.width) for peak in peaks), default=0)
    wider = [
        _Seen(line.width, i / max(1, len(group) - 1), row)
        for row, group in enumerate(groups)
        for i, line in enumerate(group)
        if line.width > limit
    ]
    if wider:
        peaks = _with_widest(peaks, wider)
    doubtful = [i for i, peak in enumerate(peaks) if peak.spot >= 0]
    weakest = sorted(doubtful, key=lambda i: peaks[i].seen)[:_DOUBTFUL_WIDTHS]
    drops: list[tuple[int, ...]] = [(), *((i,) for i in weakest)]
    drops += itertools.combinations(weakest, 2) if len(peaks) > len(fields) else []
    answers: list[dict[str, int]] = []
    for dropped in drops:
        kept = [peak.width for i, peak in enumerate(peaks) if i not in dropped]
        if len(kept) <= len(fields):
            unseen = dict.fromkeys(fields[len(kept) :], 0)
            answers.append(dict(zip(fields, kept, strict=False)) | unseen)
    return answers or [dict.fromkeys(fields, 0)]


def _with_widest(peaks: Sequence[_Peak], wider: Sequence[_Seen]) -> list[_Peak]:
    """Peaks with the widest of the lines wider than all of them: it widens the nearest peak if
    close to it (that column's lines wrap a little short), else it is a column of its own."""
    widest = max(seen.width for seen in wider)
    for i, peak in enumerate(peaks):
        if abs(widest - peak.width) <= _radius(widest):
            return [*peaks[:i], peak._replace(width=widest), *peaks[i + 1 :]]
    spot = statistics.median(seen.spot for seen in wider)
    return sorted([*peaks, _Peak(widest, len(wider), spot)], key=lambda p: p.spot)


def _calibrate(
    answers: Sequence[dict[str, int]], rows: Sequence[_Row], fields: Sequence[str]
) -> list[_Column]:
    """The columns under which a sample of whole rows reads cheapest, with the share of their
    cells that end with a stop, as read in that sample."""
    sample = [row.segments[0] for row in rows if len(row.segments) == 1][:_SAMPLE_ROWS]
    ctx = _Context(True, False, frozenset(), {}, frozenset(), {}, {}, "")
    best: tuple[float, list[_Column], list[list[int]]] | None = None
    for widths in answers:
        columns = [_Column(f, widths[f], f == "power_type") for f in fields]
        solved = [_Segment(segment, columns, ctx).solve() for segment in sample if segment]
        cost = sum(cost for cost, _ in solved)
        if best is None or cost < best[0]:
            best = (cost, columns, [assigned for _, assigned in solved])
    assert best is not None  # `answers` is never empty
    _, columns, assignments = best
    stops = [0] * len(columns)
    filled = [0] * len(columns)
    for segment, assigned in zip([s for s in sample if s], assignments, strict=True):
        for k in set(assigned):
            last = max(i for i, column in enumerate(assigned) if column == k)
            filled[k] += 1
            stops[k] += segment[last].text[-1] in _CLOSERS
    return [
        replace(col, closes=(stops[k] + col.closes * _PRIOR_CELLS) / (filled[k] + _PRIOR_CELLS))
        for k, col in enumerate(columns)
    ]


# --- Assigning lines to columns ------------------------------------------------------------------


def _place_cost(line: _Line, column: int, columns: Sequence[_Column], ctx: _Context) -> float:
    col = columns[column]
    cost = _OVERFLOW if col.width == 0 or line.width > col.limit else 0.0
    return cost + (_CLOSED_COLUMN if column in ctx.closed else 0.0)


def _mid_cost(line: _Line, col: _Column) -> float:
    """Cost of a line inside a paragraph: such a line fills its column."""
    if col.width == 0:
        return 0.0
    shortfall = (col.width - line.width) / col.width
    # A full stop seldom falls exactly at the end of a wrapped line.
    stop = _STOP_INSIDE if line.text[-1] in _STOPS else 0.0
    if shortfall <= (_SPREAD_SLACK if line.spread else _FULL_SLACK):
        return stop
    return stop + _SHORT_LINE * (1 + shortfall)


def _end_cost(col: _Column) -> float:
    """Cost of a line ending a paragraph or a cell.

    Such a line may have any width up to the column's: −log of its chance of the width it has,
    against a full line's, which falls within a few units. So a short line fits a narrow column
    better than a wide one.
    """
    return math.log(max(col.width, _FULL_BAND) / _FULL_BAND)


def _number(text: str) -> int | None:
    """The number a paragraph opens with (`3.` `（三）` `三、`), if any."""
    match = _NUMBER_RE.match(text)
    if match is None:
        return None
    digits, numeral = match.groups()
    return int(digits) if digits else _NUMERALS.index(numeral) + 1


def _arabic(text: str) -> int | None:
    """The number of a paragraph opening `1.` `2、`: the top numbering of these lists."""
    match = _NUMBER_RE.match(text)
    return int(match.group(1)) if match and match.group(1) else None


def _opening_cost(line: _Line) -> float:
    """Cost of a cell opening with this line: cells open with a paragraph mark, if numbered
    then with 1, not with a later number."""
    if not _PARAGRAPH_RE.match(line.text):
        return _OPENS_UNMARKED
    return _OPENS if _number(line.text) in {None, 1} else _OPENS_LATE


def _type_cost(lines: Sequence[_Line], ctx: _Context) -> float:
    text = ctx.type_prefix + "".join(line.text for line in lines)
    if text in POWER_TYPE_LABELS:
        return 0.0
    if ctx.cut and text in _LABEL_PREFIXES:
        return _CUT_TYPE
    # Off the vocabulary: prefer the shortest such cell, to leave neighbours' lines alone.
    return _UNKNOWN_TYPE + 0.1 * len(lines)


_OPEN, _DONE = 0, 1
# A state of the assignment: (kind, line, column, numbered). _OPEN: the line is in the column
# and its cell may go on, `numbered` telling whether the cell showed a numbered paragraph in
# this segment yet; _DONE: the cell of the column ends at the line. (_DONE, -1, -1, 0) starts.
_State = tuple[int, int, int, int]
_START: Final[_State] = (_DONE, -1, -1, 0)


class _Segment:
    """Column of each line of one page segment of a row, by dynamic programming.

    Within a segment the extractor prints the cells left to right, so columns never go back;
    the cheapest such assignment wins. Most cells grow line by line (_OPEN states); a type cell,
    checked against the vocabulary, and a cell cut by the page break, `ctx.height` lines tall,
    are placed as whole blocks.
    """

    def __init__(self, lines: Sequence[_Line], columns: Sequence[_Column], ctx: _Context) -> None:
        self.lines, self.columns, self.ctx = lines, columns, ctx
        self.type_col = next((k for k, col in enumerate(columns) if col.is_type), None)
        n, m = len(lines), len(columns)
        self.ends = [_end_cost(col) for col in columns]
        self.openings = [_opening_cost(line) for line in lines]
        self.numbers = [_arabic(line.text) for line in lines]
        # Index of the last numbered paragraph start at or before each line, -1 if none.
        self.last_numbered = list(
            itertools.accumulate(
                (i if number is not None else -1 for i, number in enumerate(self.numbers)), max
            )
        )
        self.place = [[_place_cost(line, k, columns, ctx) for k in range(m)] for line in lines]
        # Cost of line i when line i + 1 goes on in the same column, by `numbered`.
        self.cont = [
            [[self._cont_cost(i, k, numbered) for k in range(m)] for i in range(n - 1)]
            for numbered in (False, True)
        ]
        self.skip_sum = list(itertools.accumulate(self._skips(), initial=0.0))
        self.closing = [[self._closing(i, k) for k in range(m)] for i in range(n)]
        self.entries: list[list[tuple[float, _State]]] = []
        self.open = [[[math.inf] * m for _ in range(n)] for _ in range(2)]
        self.open_back: list[list[list[_State]]] = [
            [[_START] * m for _ in range(n)] for _ in range(2)
        ]
        self.done = [[math.inf] * m for _ in range(n)]
        # Where a _DONE state comes from, and the first line of its block when placed whole.
        self.done_back: list[list[tuple[_State, int | None]]] = [
            [(_START, None)] * m for _ in range(n)
        ]

    def _skips(self) -> list[float]:
        """Cost of leaving each column empty: a row's first segment holds every required cell,
        and a later one goes on with every cell the page break cut."""
        if self.ctx.first:
            return [
                _MISSING if col.field in _REQUIRED else _EMPTY if col.field in _USUAL else 0.0
                for col in self.columns
            ]
        return [self.ctx.going_on.get(k, 0.0) for k in range(len(self.columns))]

    def _cont_cost(self, i: int, k: int, numbered: bool) -> float:
        col, nxt = self.columns[k], self.lines[i + 1].text
        if not _PARAGRAPH_RE.match(nxt):
            return _mid_cost(self.lines[i], col)
        return _end_cost(col) + self._numbering(i + 1, k, numbered)

    def _numbering(self, i: int, k: int, numbered: bool) -> float:
        """Cost of line i's paragraph number in column k: a cell numbers its paragraphs one
        after another, maybe after an unnumbered preamble, across page breaks too."""
        number = self.numbers[i]
        if number is None:
            return 0.0
        before = self.numbers[self.last_numbered[i - 1]] if numbered else self.ctx.numbers.get(k)
        return 0.0 if before is None or number == before + 1 else _RESTART

    def solve(self) -> tuple[float, list[int]]:
        for i in range(len(self.lines)):
            self.entries.append([self._entry(i, k) for k in range(len(self.columns))])
            for k in range(len(self.columns)):
                if k == self.type_col:
                    self._type_block(i, k)
                    continue
                if k in self.ctx.rests:
                    self._rest_block(i, k, self.ctx.rests[k])
                self._grow(i, k)
                self._close(i, k)
                if self.ctx.height:
                    self._cut_block(i, k)
        return self._walk_back()

    def _opening(self, i: int, k: int) -> float:
        """Cost of a cell starting at line i, after how cells start (with a paragraph mark
        numbered 1 if at all); after a page break, whether the column was expected to go on."""
        if k == self.type_col:
            return 0.0
        if self.ctx.first:
            return self.openings[i]
        numbering = self._numbering(i, k, numbered=False)
        if k in self.ctx.rounded and not (self.numbers[i] is not None and numbering == 0.0):
            numbering += _ROUNDED
        if k in self.ctx.going_on and _PARAGRAPH_RE.match(self.lines[i].text):
            # Cut in mid-sentence, a cell goes on in mid-sentence.
            numbering += _OPENS_LATE
        return numbering

    def _closing(self, i: int, k: int) -> float:
        """Cost of a cell ending at line i: −log chance of its width, and of its last character
        after how this column's cells end. A cut segment of unknown height spares cells both."""
        if self.ctx.cut and not self.ctx.height:
            return min(self.ends[k], _mid_cost(self.lines[i], self.columns[k]))
        if k == self.type_col:
            return self.ends[k]
        closes = min(max(self.columns[k].closes, _SHARE_FLOOR), 1 - _SHARE_FLOOR)
        stop = self.lines[i].text[-1] in _CLOSERS
        return self.ends[k] - math.log(closes if stop else 1 - closes)

    def _skipping(self, after: int, before: int) -> float:
        """Cost of leaving the columns strictly between two columns empty."""
        return self.skip_sum[before] - self.skip_sum[after + 1] if before > after + 1 else 0.0

    def _entry(self, start: int, k: int) -> tuple[float, _State]:
        """Cheapest way to have column k's cell start at line `start`."""
        opening = self._opening(start, k)
        if start == 0:
            return opening + self._skipping(-1, k), _START
        cost, back = math.inf, _START
        done = self.done[start - 1]
        for p in range(k):
            option = done[p] + self._skipping(p, k)
            if option < cost:
                cost, back = option, (_DONE, start - 1, p, 0)
        return cost + opening, back

    def _grow(self, i: int, k: int) -> None:
        here = int(self.numbers[i] is not None)
        options: list[tuple[float, int, _State]] = []
        cost, back = self.entries[i][k]
        if k in self.ctx.rests:
            # Rather one of the known endings (`_rest_block`) than any other text.
            cost += _UNKNOWN_VALUE
        options.append((cost, here, back))
        if i > 0:
            for numbered in (0, 1):
                cost = self.open[numbered][i - 1][k] + self.cont[numbered][i - 1][k]
                options.append((cost, numbered | here, (_OPEN, i - 1, k, numbered)))
        place = self.place[i][k]
        for cost, numbered, back in options:
            if cost + place < self.open[numbered][i][k]:
                self.open[numbered][i][k] = cost + place
                self.open_back[numbered][i][k] = back

    def _close(self, i: int, k: int) -> None:
        numbered = int(self.open[1][i][k] < self.open[0][i][k])
        cost = self.open[numbered][i][k] + self.closing[i][k]
        if cost < self.done[i][k]:
            self.done[i][k] = cost
            self.done_back[i][k] = ((_OPEN, i, k, numbered), None)

    def _block(self, start: int, i: int, k: int, last: float) -> None:
        """Offer lines start..i as one whole cell of column k, `last` the cost of line i."""
        entry, back = self.entries[start][k]
        inner = 0.0
        numbered = 0
        for j in range(start, i):
            numbered |= self.numbers[j] is not None
            inner += self.place[j][k] + self.cont[numbered][j][k]
        total = entry + inner + self.place[i][k] + last
        if total < self.done[i][k]:
            self.done[i][k] = total
            self.done_back[i][k] = (back, start)

    def _type_block(self, i: int, k: int) -> None:
        for start in range(max(0, i - _MAX_TYPE_LINES + 1), i + 1):
            self._block(start, i, k, _type_cost(self.lines[start : i + 1], self.ctx))

    def _rest_block(self, i: int, k: int, rests: frozenset[str]) -> None:
        """The rest of a cell cut short of a value the column had in earlier rows."""
        text = ""
        for start in range(i, max(-1, i - _MAX_TYPE_LINES), -1):
            text = self.lines[start].text + text
            if text in rests:
                self._block(start, i, k, self.closing[i][k])

    def _cut_block(self, i: int, k: int) -> None:
        """A cell that the page break cut: `height` lines, the last one full."""
        start = i + 1 - (self.ctx.height or 0)
        if start >= 0:
            self._block(start, i, k, _CUT_CELL + _mid_cost(self.lines[i], self.columns[k]))

    def _final(self, k: int) -> float:
        missing = 0.0 if self.ctx.cut else self._skipping(k, len(self.columns))
        return self.done[-1][k] + missing

    def _walk_back(self) -> tuple[float, list[int]]:
        k = min(range(len(self.columns)), key=self._final)
        cost = self._final(k)
        assigned = [0] * len(self.lines)
        state: _State = (_DONE, len(self.lines) - 1, k, 0)
        while state[1] >= 0:
            kind, i, k, numbered = state
            if kind == _OPEN:
                assigned[i] = k
                state = self.open_back[numbered][i][k]
                continue
            back, start = self.done_back[i][k]
            if start is None:
                state = back
                continue
            assigned[start : i + 1] = [k] * (i + 1 - start)
            state = back
        return cost, assigned


def _assign_segment(lines: Sequence[_Line], columns: Sequence[_Column], ctx: _Context) -> list[int]:
    """Column of each line of a segment.

    A page break cuts the tallest cells of a row at one height, unknown beforehand: guess it
    from the tallest cell of a first assignment, then keep the cheapest assignment, among the
    heights around, whose tallest cell is that high.
    """
    _, assigned = _Segment(lines, columns, ctx).solve()
    if not ctx.cut:
        return assigned
    guess = max(Counter(assigned).values())
    fitting: list[tuple[float, list[int]]] = []
    for height in range(max(1, guess - _HEIGHT_SPAN), guess + _HEIGHT_SPAN):
        cost, found = _Segment(lines, columns, replace(ctx, height=height)).solve()
        if max(Counter(found).values()) == height:
            fitting.append((cost, found))
    return min(fitting)[1] if fitting else assigned


def _assign_row(
    row: _Row, columns: Sequence[_Column], known: Sequence[Counter[str]]
) -> list[list[_Line]]:
    """Lines of each column, segment after segment, each segment told what the ones before it
    left open (see `_after_break`)."""
    cells: list[list[_Line]] = [[] for _ in columns]
    type_col = next((k for k, col in enumerate(columns) if col.is_type), None)
    segments = [segment for segment in row.segments if segment]
    ctx = _Context(True, False, frozenset(), {}, frozenset(), {}, {}, "")
    for index, segment in enumerate(segments):
        prefix = "" if type_col is None else "".join(ln.text for ln in cells[type_col])
        ctx = replace(ctx, first=index == 0, cut=index < len(segments) - 1, type_prefix=prefix)
        placed: list[list[_Line]] = [[] for _ in columns]
        for line, k in zip(segment, _assign_segment(segment, columns, ctx), strict=True):
            placed[k].append(line)
            cells[k].append(line)
        ctx = _after_break(ctx, placed, cells, columns, known)
    return cells


def _after_break(
    ctx: _Context,
    placed: Sequence[list[_Line]],
    cells: Sequence[list[_Line]],
    columns: Sequence[_Column],
    known: Sequence[Counter[str]],
) -> _Context:
    """What a segment leaves to the next one, across a page break.

    Only the cells that filled the whole segment can go on: those cut in mid-paragraph, or
    short of a value the column had in earlier rows, should; those whose last line looked like
    an end, or that hold such a value whole, may. The others are closed.
    """
    height = max(map(len, placed))
    full = {k for k, lines in enumerate(placed) if len(lines) == height}
    going_on: dict[int, float] = {}
    rests: dict[int, frozenset[str]] = {}
    for k in full:
        text = "".join(line.text for line in cells[k])
        values = {value for value, count in known[k].items() if count >= _KNOWN_AFTER}
        rest = frozenset(v[len(text) :] for v in values if v.startswith(text) and v != text)
        if rest:
            going_on[k], rests[k] = _MISSING, rest
        elif text not in values and _cut_off(placed[k][-1], columns[k]):
            # A cut cell may also have ended right at the page foot, the likelier the
            # narrower the column.
            going_on[k] = _end_cost(columns[k])
    numbers = dict(ctx.numbers)
    for k, lines in enumerate(placed):
        numbers.update((k, n) for n in map(_arabic, (ln.text for ln in lines)) if n is not None)
    closed = ctx.closed | {k for k, lines in enumerate(placed) if lines and k not in full}
    return replace(
        ctx,
        closed=closed,
        going_on=going_on,
        rounded=frozenset(full - set(going_on)),
        numbers=numbers,
        rests=rests,
    )


def _cut_off(line: _Line, col: _Column) -> bool:
    """Whether a cell's last line before a page break stops in mid-paragraph: full, no stop."""
    return not col.is_type and line.text[-1] not in _STOPS and _mid_cost(line, col) == 0.0


def _item(row: _Row, columns: Sequence[_Column], cells: Sequence[list[_Line]]) -> ParsedItem:
    texts = {
        col.field: "\n".join(line.raw for line in lines)
        for col, lines in zip(columns, cells, strict=True)
        if lines
    }
    return ParsedItem(seq=row.seq, cells=texts, line=row.line, line_end=row.line_end, page=row.page)


def _size(item: ParsedItem) -> int:
    return sum(len(_WS_RE.sub("", cell)) for cell in item.cells.values())


def _keep_one(kept: list[ParsedItem], repeat: ParsedItem, result: ParseResult) -> None:
    """Keep the fuller of a row and its reprint after a page break; report both."""
    first = kept[-1]
    winner = repeat if _size(repeat) > _size(first) else first
    kept[-1] = winner
    result.problems.append(
        ParseProblem(
            code="import.repeated_row",
            message=(
                f"第 {first.seq} 项在分页处重复印出：第 {first.line}–{first.line_end} 行与"
                f"第 {repeat.line}–{repeat.line_end} 行，"
                f"只保留较完整的第 {winner.line}–{winner.line_end} 行"
            ),
            line=repeat.line,
            line_end=repeat.line_end,
            severity="warning",
        )
    )


def parse_pdf_text(text: str) -> ParseResult:
    """Parse a PDF-table extraction into items with raw cells.

    The column header gives the columns; every line after it is a page header (dropped), a
    sequence number opening a row, or one rendered line of some cell. Which cell is decided
    per row (`_assign_row`) from the column widths measured over the whole file
    (`_learn_widths`). A row printed again after a page break is kept once.

    Raises:
        ImportFormatError: no column header followed by a numbered row.
    """
    lines = _read_lines(text)
    header = _find_header(lines)
    if header is None:
        raise ImportFormatError(
            "未找到表格表头：PDF 表格文本需要“序号”“事项名称”等列名，其后是编号的事项",
            details={"format": "pdf_text", "required_columns": ["序号", "事项名称"]},
        )
    result = ParseResult()
    title = lines[: header.start]
    if title:
        result.title = title[0].raw.strip()
    for extra in title[1:]:
        _stray(result, extra)
    rows = _split_rows(_page_pieces(lines, header, title[0].text if title else None), result)
    if not rows:
        raise ImportFormatError(
            "表头之后没有编号的事项", details={"format": "pdf_text", "line": lines[-1].number}
        )
    fields = header.fields[1:]
    columns = _calibrate(_learn_widths(rows, fields), rows, fields)
    for row, item in _items(rows, columns):
        if row.repeat and result.items and result.items[-1].seq == item.seq:
            _keep_one(result.items, item, result)
        else:
            result.items.append(item)
    return result


def _items(rows: Sequence[_Row], columns: Sequence[_Column]) -> Iterator[tuple[_Row, ParsedItem]]:
    """Each row with its item, in order."""
    # Values each column took in earlier whole rows: where a page break cuts a cell, they tell
    # whether it ended there (the exercising body is the same in most rows).
    known: list[Counter[str]] = [Counter() for _ in columns]
    for row in rows:
        cells = _assign_row(row, columns, known)
        if sum(1 for segment in row.segments if segment) == 1:
            for values, lines in zip(known, cells, strict=True):
                values["".join(line.text for line in lines)] += 1
        yield row, _item(row, columns, cells)
