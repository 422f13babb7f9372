"""Text normalisation shared by every importer: cleaned cell text, codes and short labels."""

from __future__ import annotations

import html
import itertools
import re
import unicodedata

__all__ = ["clean_text", "is_cjk", "normalize_code", "normalize_label"]

# Only real HTML element names count as tags: published lists also write nested titles with
# half-width angle brackets (`<酒泉市…实施方案>`), which must survive as text.
_BLOCK_TAGS = (
    "address|article|aside|blockquote|br|dd|div|dl|dt|footer|h[1-6]|header|hr|li|ol|p|pre|"
    "section|table|tbody|td|tfoot|th|thead|tr|ul"
)
_INLINE_TAGS = (
    "a|abbr|b|big|body|cite|code|col|colgroup|del|em|font|head|html|i|img|ins|kbd|label|mark|"
    "meta|q|s|samp|small|span|strike|strong|style|sub|sup|title|tt|u|var|wbr"
)
_BLOCK_TAG_RE = re.compile(rf"</?(?:{_BLOCK_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
# Word-exported HTML carries namespaced tags such as <o:p>.
_INLINE_TAG_RE = re.compile(
    rf"</?(?:(?:{_INLINE_TAGS})|[a-z]+:[a-z0-9]+)(?:\s[^<>]*)?/?>|<!--.*?-->",
    re.IGNORECASE | re.DOTALL,
)

# Invisible characters that editors and spreadsheets leave behind; never part of the wording.
_INVISIBLE_CHARS = "\u200b\u2060\ufeff"
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS))
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE_CHARS}]")


def _drop_invisible(text: str) -> str:
    # str.translate looks every character of a CJK string up in the table, a third of cleaning a
    # cell; a regex search for the three is one quick scan, and almost no cell has one.
    if _INVISIBLE_RE.search(text):
        return text.translate(_INVISIBLE)
    return text


_TO_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
_PUNCT_RE = re.compile(r"[,;:?!()\"]")

# A space between two CJK runs is layout when one of the runs is this short: PDF tables print
# narrow cells letter-spaced (`对 隐 匿`, `设 账`), whereas a deliberate separator sits between
# longer runs (joint issuers `国家医保局办公室 财政部办公厅`, article headings `第十条 举报人…`).
_LETTER_SPACED_MAX = 2

_WS_RUN_RE = re.compile(r"\s+")
_MAX_CODE_ROUNDS = 8
_MAX_HTML_ROUNDS = 16


def _is_cjk_letter(ch: str) -> bool:
    """CJK ideographs, kana and full-width letters and digits."""
    cp = ord(ch)
    return (
        0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x3134F
        or 0x2E80 <= cp <= 0x2FDF
        or 0x3040 <= cp <= 0x30FF
        or 0x3005 <= cp <= 0x3007  # 々〆〇
        or 0xFF10 <= cp <= 0xFF19
        or 0xFF21 <= cp <= 0xFF3A
        or 0xFF41 <= cp <= 0xFF5A
    )


def _is_cjk_punct(ch: str) -> bool:
    """Punctuation of Chinese text: CJK symbols, full-width forms, curly quotes, …, —, ·."""
    cp = ord(ch)
    if ch.isspace() or _is_cjk_letter(ch):
        return False
    return (
        0x3000 <= cp <= 0x303F
        or 0xFE30 <= cp <= 0xFE4F
        or 0xFF01 <= cp <= 0xFF65
        or ch in "‘’“”…—―·"
    )


def is_cjk(ch: str) -> bool:
    """Whether one character belongs to Chinese text (an ideograph or CJK punctuation)."""
    return _is_cjk_letter(ch) or _is_cjk_punct(ch)


def _strip_html(text: str) -> str:
    # Repeat so that escaped markup (`&lt;p&gt;`) is removed too and a second cleaning finds
    # nothing left to do. Each round peels one level of escaping; the bound keeps deliberately
    # nested escapes (`&amp;amp;amp;…`) from costing quadratic time.
    text = _drop_invisible(text)
    if "<" not in text and "&" not in text:
        return text  # no tag and no entity: the rounds below would change nothing (most cells)
    for _ in range(_MAX_HTML_ROUNDS):
        stripped = _INLINE_TAG_RE.sub("", _BLOCK_TAG_RE.sub("\n", text))
        unescaped = _drop_invisible(html.unescape(stripped))
        if unescaped == text:
            break
        text = unescaped
    return text


def _visible_neighbours(text: str) -> tuple[list[int], list[int]]:
    """For each index, the index of the nearest non-space character before and after it
    (-1 when there is none)."""
    before: list[int] = []
    last = -1
    for k, ch in enumerate(text):
        before.append(last)
        if not ch.isspace():
            last = k
    after = [-1] * len(text)
    last = -1
    for k in range(len(text) - 1, -1, -1):
        after[k] = last
        if not text[k].isspace():
            last = k
    return before, after


def _mark_units(text: str) -> list[list[int]]:
    """Half-width marks that convert together: a bracket pair, a quote pair, or one mark.

    Removing a converted pair or an unmatched bracket never changes how the others pair up,
    so the units stay the same however many of them convert.
    """
    units: list[list[int]] = []
    open_brackets: list[int] = []
    quotes: list[int] = []
    for match in _PUNCT_RE.finditer(text):
        i, ch = match.start(), match.group()
        if ch == "(":
            open_brackets.append(i)
        elif ch == ")":
            units.append([open_brackets.pop(), i] if open_brackets else [i])
        elif ch == '"':
            quotes.append(i)
        else:
            units.append([i])
    units.extend([i] for i in open_brackets)
    # A quote left without a partner is ambiguous (opening or closing) and stays as it is.
    units.extend([a, b] for a, b in zip(quotes[::2], quotes[1::2], strict=False))
    return units


def _to_full_width(text: str) -> str:
    """Convert the marks whose surroundings are CJK, counting marks converted on the way.

    A mark converts when a neighbour (for a pair: outside left, first and last inside,
    outside right) is CJK or is a mark that converts (`,(` before CJK): a search over units
    from those that touch CJK directly. Digits on both sides (`1,000`) never qualify.
    """
    units = _mark_units(text)
    if not units:
        return text
    before, after = _visible_neighbours(text)
    unit_of = {i: n for n, unit in enumerate(units) for i in unit}
    dependants: dict[int, list[int]] = {}
    pending: list[int] = []
    for n, unit in enumerate(units):
        context = {before[unit[0]], after[unit[0]], before[unit[-1]], after[unit[-1]]} - {-1}
        if any(is_cjk(text[k]) for k in context):
            pending.append(n)
            continue
        for k in context:
            other = unit_of.get(k)
            if other is not None and other != n:
                dependants.setdefault(other, []).append(n)
    converting: set[int] = set()
    while pending:
        n = pending.pop()
        if n in converting:
            continue
        converting.add(n)
        pending.extend(dependants.get(n, []))
    chars = list(text)
    for n in converting:
        unit = units[n]
        if chars[unit[0]] == '"':
            chars[unit[0]], chars[unit[1]] = "“", "”"
        else:
            for i in unit:
                chars[i] = _TO_FULL_WIDTH[chars[i]]
    return "".join(chars)


def _space_kept(left: str, right: str, left_run: int, right_run: int, joined_line: bool) -> bool:
    """Whether the whitespace between two visible characters stays (as one space)."""
    left_cjk, right_cjk = is_cjk(left), is_cjk(right)
    if not (left_cjk or right_cjk):
        return True
    if _is_cjk_punct(left) or _is_cjk_punct(right):
        return False
    if left_cjk and right_cjk:
        if joined_line:
            return False
        return min(left_run, right_run) > _LETTER_SPACED_MAX
    # CJK beside a Latin word keeps its space (`财政部门 and 医疗`); beside digits or ASCII
    # marks the space is layout (`部门 6个月`, `1. 对`, `方案 >的`).
    other = right if left_cjk else left
    return other.isascii() and other.isalpha()


def _clean_line(line: str) -> str:
    runs = line.split()
    if not runs:
        return ""
    out = [runs[0]]
    for prev, nxt in itertools.pairwise(runs):
        if _space_kept(prev[-1], nxt[0], len(prev), len(nxt), joined_line=False):
            out.append(" ")
        out.append(nxt)
    return "".join(out)


def _join_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line:
            continue
        if out and _space_kept(out[-1][-1], line[0], 0, 0, joined_line=True):
            out.append(" ")
        out.append(line)
    return "".join(out)


def clean_text(raw: str | None) -> str | None:
    """Cleaned text of a cell: HTML removed, layout whitespace removed, CJK punctuation.

    - HTML tags go (block tags such as `<p>` and `<br>` count as line breaks) and entities are
      decoded.
    - A line break between CJK characters or CJK punctuation disappears with the spaces around
      it; any other line break becomes one space.
    - Inside a line, whitespace next to CJK punctuation goes (`欺诈 、伪造`, `罚款 。`), and so does
      whitespace between CJK and digits or ASCII marks (`部门 6个月`, `1. 对`). Between two runs of
      CJK it goes only when one run has at most two characters, which is how PDF tables
      letter-space narrow cells (`对 隐 匿`); longer runs keep one space, as in joint issuers
      (`国家医保局办公室 财政部办公厅`) or article headings (`第十条 举报人…`). CJK next to a Latin
      word keeps one space. Other whitespace collapses to one space; the ends are stripped.
    - `, ; : ? ! ( )` become `， ； ： ？ ！ （ ）` when the nearest visible character on
      either side is CJK. Brackets and straight double quotes are judged as pairs: a pair
      converts when its content or its outside touches CJK (quotes become “ ”). Digits on
      both sides keep the half-width form (`1,000`); full stops are never touched (`1.`,
      `3.5`), nor are single quotes.

    Cleaning cleaned text changes nothing. Returns None when nothing visible is left.
    """
    if raw is None:
        return None
    text = _strip_html(raw)
    text = _to_full_width(text)
    cleaned = _join_lines([_clean_line(line) for line in text.splitlines()])
    return cleaned or None


def normalize_code(raw: str | None) -> str | None:
    """A power-item code as comparable text: half-width, no whitespace, upper case.

    Leading zeros that a spreadsheet dropped from a numeric-looking code cannot be restored
    here: the right length depends on the code form (31 or 33 characters) and is the
    validator's to judge.
    """
    if raw is None:
        return None
    code = raw
    # Removing a space or upper-casing can leave a sequence that NFKC composes further
    # ("U" + space + combining macron): repeat until stable so that normalising is idempotent.
    # Real codes are ASCII and settle at once; the bound only guards against odd input.
    for _ in range(_MAX_CODE_ROUNDS):
        text = unicodedata.normalize("NFKC", _drop_invisible(code))
        normalized = _WS_RUN_RE.sub("", text).upper()
        if normalized == code:
            break
        code = normalized
    return code or None


def normalize_label(raw: str | None) -> str | None:
    """A short label (power type, exercising body): cleaned text without any whitespace."""
    cleaned = clean_text(raw)
    if cleaned is None:
        return None
    return _WS_RUN_RE.sub("", cleaned) or None
