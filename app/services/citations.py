"""Legal citations (law titles in 《》 and their articles) read out of an item's 实施依据."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from app.services.text import clean_text

__all__ = ["Citation", "extract_citations"]

_NUMBER = r"(?:[0-9０-９]+|[零〇一二两三四五六七八九十百千]+)"
# 第八十七条, 第38条, 第二十条之一, optionally narrowed to 第…款 and 第…项 / 第（…）项: the
# narrowing is folded into one article string ("第八十七条第一款") so that a reader sees exactly
# what the list cites.
_ARTICLE_RE = re.compile(
    rf"第\s*{_NUMBER}\s*条"
    r"(?:\s*之\s*[一二三四五六七八九十]+)?"
    rf"(?:\s*第\s*{_NUMBER}\s*款)?"
    rf"(?:\s*第\s*[（(]?\s*{_NUMBER}\s*[）)]?\s*项)?"
)

# An article reference right after one of these words points elsewhere: to the quoted law
# itself (本法第…条, 本规定第四条) or to a law named without 《》 (社会保险法第八十六条). Such
# references are part of the quoted wording, not what the item cites.
_CROSS_REFERENCE_ENDINGS = (
    "法",
    "条例",
    "规定",
    "办法",
    "细则",
    "规则",
    "规章",
    "决定",
    "通知",
    "意见",
    "规范",
    "章程",
    "解释",
    "本条",
    "本款",
    "本章",
    "本节",
)

# Articles listed after a cross reference share its target (本规定第四条、第五条).
_LIST_JOINER_RE = re.compile(r"\s*(?:、|，|,|和|及|与|或|或者|以及|至|到)\s*")

_WHITESPACE_RE = re.compile(r"\s+")
_SENTENCE_ENDS = frozenset("。；;")
_SENTENCE_END_RE = re.compile(f"[{''.join(sorted(_SENTENCE_ENDS))}]")
_TITLE_MARK_RE = re.compile("[《》]")
_BRACKET_RE = re.compile("[（()）]")
# Enough text before an article to see the longest cross-reference ending.
_LOOKBEHIND = 8
# A bracketed note between a name and its article (若干规定（2011年7月1日实施）第二十一条) is
# looked through: the name before it decides whether the article is a cross reference.
_TRAILING_NOTE_RE = re.compile(r"[（(][^（()）]*[）)]\s*$")
_NOTE_WINDOW = 80


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited law: its title without 《》 and the articles cited from it, in order."""

    law: str
    articles: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str | list[str]]:
        """The JSON shape of `legal_citations` entries."""
        return {"law": self.law, "articles": list(self.articles)}


def _titles(text: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost 《…》, end being the index of its closing 》.

    An unclosed 《 or a stray 》 is a typo, not a title; pairs inside it still count.
    """
    pairs: list[tuple[int, int]] = []
    open_at: list[int] = []
    # Only the marks, found by the regex engine: a loop over every character of a long 实施依据
    # was a tenth of cleaning an import's rows.
    for mark in _TITLE_MARK_RE.finditer(text):
        k = mark.start()
        if text[k] == "《":
            open_at.append(k)
        elif open_at:
            pairs.append((open_at.pop(), k))
    spans: list[tuple[int, int]] = []
    for start, end in sorted(pairs):
        if not spans or start > spans[-1][1]:
            spans.append((start, end))
    return spans


@dataclass(frozen=True, slots=True)
class _Title:
    law: str
    start: int  # index of 《
    end: int  # index of the matching 》
    depth: int  # brackets open around it
    owns: bool  # whether the articles right after it are its own


@dataclass(frozen=True, slots=True)
class _Article:
    text: str
    start: int
    depth: int


def _bracket_depths(text: str) -> list[int]:
    """For each index, how many round brackets are open before it (never below zero)."""
    depths: list[int] = []
    depth = 0
    filled = 0  # indices below this have their depth
    for bracket in _BRACKET_RE.finditer(text):
        k = bracket.start()
        depths.extend([depth] * (k + 1 - filled))  # up to the bracket itself: opened after it
        filled = k + 1
        if text[k] in "（(":
            depth += 1
        elif depth > 0:
            depth -= 1
    depths.extend([depth] * (len(text) - filled))
    return depths


def _title_mask(text: str, spans: list[tuple[int, int]]) -> list[bool]:
    """For each index, whether it lies within a title (brackets included)."""
    mask = [False] * len(text)
    for start, end in spans:
        mask[start : end + 1] = [True] * (end + 1 - start)
    return mask


def _articles(text: str, in_title: list[bool], depths: list[int]) -> list[_Article]:
    found: list[_Article] = []
    skipped_until = -1
    for match in _ARTICLE_RE.finditer(text):
        if in_title[match.start()]:
            skipped_until = -1
            continue
        before = text[max(0, match.start() - _NOTE_WINDOW) : match.start()].rstrip()
        while (note := _TRAILING_NOTE_RE.search(before)) is not None:
            before = before[: note.start()].rstrip()
        before = before[-_LOOKBEHIND:]
        listed_after_skipped = skipped_until >= 0 and bool(
            _LIST_JOINER_RE.fullmatch(text, skipped_until, match.start())
        )
        if listed_after_skipped or before.endswith(_CROSS_REFERENCE_ENDINGS):
            skipped_until = match.end()
            continue
        skipped_until = -1
        article = _WHITESPACE_RE.sub("", match.group())
        found.append(_Article(article, match.start(), depths[match.start()]))
    return found


def _read_titles(
    text: str,
    spans: list[tuple[int, int]],
    in_title: list[bool],
    articles: list[_Article],
    depths: list[int],
) -> list[_Title]:
    """The titles, each knowing whether the articles right after it are its own.

    A title named in the running text of a quoted article (…应按照《预算法》执行。第九条…) is
    followed by the end of that sentence before the next article, which therefore continues
    the earlier title. Sentence ends inside brackets (a revision note) do not count: only
    those at the title's bracket level or outside it.
    """
    article_starts = {a.start for a in articles}
    start_of = {end: start for start, end in spans}
    owns: dict[int, bool] = {}
    # One backward sweep: the shallowest sentence end between each title and the next article.
    shallowest_end: int | None = None
    article_follows = False
    # Only the indices the sweep acts on, last first: the other characters change nothing.
    ends = {m.start() for m in _SENTENCE_END_RE.finditer(text)}
    for k in sorted(article_starts | start_of.keys() | ends, reverse=True):
        if k in article_starts:
            shallowest_end, article_follows = None, True
        elif k in start_of:
            title_depth = depths[start_of[k]]
            owns[k] = (
                not article_follows or shallowest_end is None or (shallowest_end > title_depth)
            )
        elif text[k] in _SENTENCE_ENDS and not in_title[k]:
            depth = depths[k]
            shallowest_end = depth if shallowest_end is None else min(shallowest_end, depth)
    titles: list[_Title] = []
    for start, end in spans:
        law = clean_text(text[start + 1 : end])
        if law is not None:
            titles.append(_Title(law, start, end, depths[start], owns[end]))
    return titles


class _LatestByDepth:
    """The latest title seen at a bracket depth or shallower.

    A new title hides every earlier one at its depth or deeper, so what is kept is a stack
    whose depths (and starts) rise towards the top, searched by bisection.
    """

    def __init__(self) -> None:
        self._depths: list[int] = []
        self._titles: list[_Title] = []

    def push(self, title: _Title) -> None:
        keep = bisect.bisect_left(self._depths, title.depth)
        del self._depths[keep:], self._titles[keep:]
        self._depths.append(title.depth)
        self._titles.append(title)

    def find(self, depth: int) -> _Title | None:
        index = bisect.bisect_right(self._depths, depth)
        return self._titles[index - 1] if index else None


def _assign(titles: list[_Title], articles: list[_Article]) -> dict[str, dict[str, None]]:
    """Each article under its title: the nearest earlier title at the article's bracket level
    or outside it, preferring one whose own articles follow it directly."""
    # Dicts as ordered sets: articles keep the order of first appearance.
    merged: dict[str, dict[str, None]] = {title.law: {} for title in titles}
    latest, latest_owning = _LatestByDepth(), _LatestByDepth()
    pending = iter(titles)
    title = next(pending, None)
    for article in articles:
        while title is not None and title.end < article.start:
            latest.push(title)
            if title.owns:
                latest_owning.push(title)
            title = next(pending, None)
        owner = latest_owning.find(article.depth) or latest.find(article.depth)
        if owner is not None:
            merged[owner.law].setdefault(article.text)
    return merged


def extract_citations(legal_basis: str | None, *, cleaned: bool = False) -> list[Citation]:
    """The laws a 实施依据 text cites, each with the articles cited after its title.

    Every outermost 《…》 is a title (nested 〈〉, <> or 《》 stay part of it); each becomes an
    entry, in order of first appearance, even without articles. Articles are the 第…条
    references (Chinese or Arabic numerals kept as written, 第…款/第…项 folded in, e.g.
    "第三条第五款"); chapter numbers (第五章) are not part of them. An article belongs to the
    nearest title before it, except that:

    - a title inside brackets after another title (…（根据《国务院关于修改部分行政法规的决定》
      修订）第二十七条) does not take the articles outside the brackets;
    - a title named in passing, with a sentence end before the next article (…应按照《预算法》
      执行。第九条…), leaves the following articles to the title before it.

    References after 本法/本规定/… or after a law named without 《》 (社会保险法第八十六条),
    and those listed with them (本规定第四条、第五条), are cross references inside quoted
    wording and are skipped. A law cited more than once yields one entry whose articles keep
    the order of first appearance, without duplicates. The text is cleaned first, so raw
    cells work too; `cleaned` says clean_text has made it already (cleaning is idempotent,
    so this only saves the time).
    """
    text = legal_basis if cleaned else clean_text(legal_basis)
    if text is None:
        return []
    spans = _titles(text)
    depths = _bracket_depths(text)
    in_title = _title_mask(text, spans)
    articles = _articles(text, in_title, depths)
    titles = _read_titles(text, spans, in_title, articles, depths)
    merged = _assign(titles, articles)
    return [Citation(law=law, articles=tuple(found)) for law, found in merged.items()]
