"""Chinese search (`q`): items whose text fields contain a term, name matches first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect
from app.db.dialect import ITEM_SEARCH_FIELDS
from app.errors import InvalidInputError
from app.models import Item

# Long enough for any phrase worth typing; it bounds the LIKE pattern and the trigram lookups.
MAX_TERM_LENGTH = 100
# Each word past the first is a substring check of five fields on every row a search reads.
MAX_WORDS = 8


def normalize_term(q: str | None) -> str | None:
    """The term to look for: `q` stripped, or None when blank (no search).

    Raises:
        InvalidInputError: the term is longer than MAX_TERM_LENGTH, holds a NUL character or
            more than MAX_WORDS words.
    """
    term = (q or "").strip()
    if not term:
        return None
    if len(term) > MAX_TERM_LENGTH:
        raise InvalidInputError(f"search term longer than {MAX_TERM_LENGTH} characters")
    if "\x00" in term:
        # PostgreSQL text cannot hold NUL, so nothing could match; say so rather than fail there.
        raise InvalidInputError("search term holds a NUL character")
    if len(term.split()) > MAX_WORDS:
        raise InvalidInputError(f"a search holds at most {MAX_WORDS} words")
    return term


def words(term: str) -> tuple[str, list[str]]:
    """The word of `term` that leads its search, and the others an item must also hold.

    A term of several words (split at whitespace) finds the items that hold every word, each in
    any of the searched fields. The longest word leads: the search below, ranks and indexes, is
    the lead word's, and the others are one more filter of the listing (`holding`). The longest
    is the likeliest to narrow, and 3+ characters are what the trigram indexes serve. A word
    found inside another word of the term is implied by it and dropped.
    """
    unique = list(dict.fromkeys(term.split()))
    kept = [w for w in unique if not any(w != other and w in other for other in unique)]
    lead = max(kept, key=len)
    return lead, [w for w in kept if w != lead]


def holding(others: list[str], dialect_name: str) -> list[ColumnElement[bool]]:
    """Conditions on Item: each of `others` is in one of the searched fields."""
    item = Item.__table__
    return [dialect.any_field_contains(item, word, dialect_name) for word in others]


# `q` is looked for in name, legal basis, responsibilities, accountability and remarks, ignoring
# the case of ASCII letters only: SQLite's LIKE folds nothing else, and PostgreSQL's folding of
# Ⅲ/ⅲ or Ａ/ａ depends on its locale, so ASCII is the rule both databases apply the same way
# (app/db/dialect.py text_contains). Withdrawn items match too: status is a filter of its own.


# --- one page of a search, name matches first ----------------------------------------------------
#
# A page is the first `limit` items by (rank, id), rank 0 for a name match and 1 for the others.
# One statement ordered by that key makes the database find, check and sort every match before it
# can return the first twenty: at 100k items a common term such as 医疗保障 matches most of them,
# and a page took half a second. And the planner cannot tell a common term from a rare one (it
# guesses a handful of rows for any LIKE '%…%'), so it never chooses to walk the items in id
# order and stop early, which for a common term is the fast plan.
#
# So each rank is its own query, in id order, and each first looks at a window of the next
# WINDOW items of the listing (its other filters applied) through the primary key: a term that
# fills the page from there is answered by reading a thousand rows. Only when the window does not
# fill it (a rarer term) do the search indexes find the rest, after the window; for a rare term
# they return few rows, which is when they are fast. The rows found are the same either way: the
# window checks every item in it, and the index conditions decide exactly as a substring scan.
#
# Past a window the indexes find the rest, which is fast when they narrow. On PostgreSQL the name
# rank asks the list of distinct names (search_name, migration 0007) for the names that hold the
# term, through its trigram index, or for 1-2 characters by reading the list (34k names at 1M
# items, ~10 ms), and reads the next items of each name through item's (name, id) btree (_named).
# The other rank asks the fields' trigram indexes (3+ characters; FTS5 on SQLite), or PostgreSQL's
# character index (1-2 characters), which is coarse: it holds which characters an item's five
# fields have, and each of its candidates is rechecked by recomputing them. A term common in the
# text then has most of the catalogue rechecked for each page past the window (about 5 s a page of
# 1,000 at 1M items, and 3-4 s for terms that fewer than one in ten items hold). So for such terms
# the window also counts its items that contain the term in any field: when one in DENSE or more
# do, the next windows, GROWTH times the last up to MAX_WINDOW, are read in id order instead, until
# the page is full or the listing ends, and a paging consumer reads the catalogue once in all, not
# once a page. (The name rank used that count too, until a term in most items' text and few names,
# 罚款 or 社保, read the whole 1M catalogue in windows for its first page: 6.5 s; through the list
# of names, 40-50 ms.)
#
# The precise ways are not free either: a trigram index returns every item past the window that
# holds the term, each read from the heap and sorted by id before the first twenty are known, and
# the list of names probes item once for every distinct name that holds it. For a term that about
# one item in a hundred holds (营业执照 in the 1M bench catalogue: 8,974 items, 25 ms for the
# fifteen a page still needed; 个体工, in 1,144 distinct names, 15-20 ms for two), reading on in id
# order finds them in ~1,700 rows (5 ms) or a few dozen. A row checked in a window costs about
# what a row returned by the index does (~3 µs here), so on PostgreSQL, the coarse case aside, a
# rank reads on in windows when the window's hits say that will read fewer rows than the index
# would return: the rows still needed divided by the window's share of hits, against that share of
# the items left past the window (by id, the listing's filters aside). A term absent from the
# window, or rare in it, goes to the index as before; where the estimate is wrong, the next window
# (GROWTH times the last) is judged the same way, so a mistake costs one window.
#
# The rows found are the same whichever way they are read: windows check every item in them, in
# id order, and the index conditions decide exactly as a substring scan.

WINDOW = 1000
WINDOW_PER_ROW = 10
DENSE = 100
GROWTH = 10
MAX_WINDOW = 100_000
NAME_RANK, OTHER_RANK = 0, 1

Filter = Callable[[Select[Any]], Select[Any]]


def _rank_hit(item: FromClause, term: str, rank: int, dialect_name: str) -> ColumnElement[bool]:
    """The items of `rank` for `term`: the name contains it (0), or only another field does (1)."""
    fields = [item.c[name] for name in ITEM_SEARCH_FIELDS]
    in_name = dialect.text_contains(fields[0], term, dialect_name)
    if rank == NAME_RANK:
        return in_name
    return and_(
        not_(in_name), or_(*(dialect.text_contains(f, term, dialect_name) for f in fields[1:]))
    )


async def _rank_ids(
    session: AsyncSession,
    filtered: Filter,
    term: str,
    rank: int,
    after_id: int,
    need: int,
    dialect_name: str,
    window: int,
) -> list[int]:
    """The first `need` ids after `after_id` (in id order) of one rank of a search."""
    searched = [Item.__table__.c[name] for name in ITEM_SEARCH_FIELDS]
    postgresql = dialect_name == "postgresql"
    # PostgreSQL's name rank finds what lies past its windows through the list of names, any term;
    # the other rank through the character index (coarse) or the trigram indexes.
    by_names = postgresql and rank == NAME_RANK
    coarse = not by_names and dialect.searched_by_characters(term, dialect_name)
    found: list[int] = []
    while True:
        listed = filtered(select(Item.id, *searched)).where(Item.id > after_id)
        checked = listed.order_by(Item.id).limit(window).subquery("search_window")
        hit_ids = (
            select(checked.c.id)
            .where(_rank_hit(checked, term, rank, dialect_name))
            .order_by(checked.c.id)
            .limit(need - len(found))
        )
        # The same window again, not one CTE read twice: PostgreSQL would materialize all of it
        # even when the hits fill the page after a few rows.
        measured = listed.order_by(Item.id).limit(window).subquery("search_extent")
        extent: list[ColumnElement[Any]] = [func.count(), func.max(measured.c.id)]
        if coarse:
            contains = dialect.any_field_contains(measured, term, dialect_name)
            extent.append(func.sum(case((contains, 1), else_=0)))
        elif postgresql:
            extent.append(select(func.max(Item.id)).scalar_subquery())
        hits, measures = await _window(session, hit_ids, extent, need - len(found), postgresql)
        found += hits
        if measures is None:  # the page is full
            return found
        count, last, *more = measures
        if count < window:  # the window held the rest of the listing
            return found
        after_id = last
        if coarse:
            read_on = (more[0] or 0) * DENSE >= count
        elif postgresql:  # the page came up short, so `hits` are all the rank's hits in the window
            read_on = _windows_read_less(need - len(found), len(hits), count, more[0] - last)
        else:
            read_on = False
        if not read_on:
            break  # the indexes narrow: they find the rest
        window = min(window * GROWTH, MAX_WINDOW)
    if by_names:
        names = dialect.matching_names(term, dialect_name)
        rest = _named(filtered, names, after_id, need - len(found))
    else:
        item = Item.__table__
        fields = ITEM_SEARCH_FIELDS[:1] if rank == NAME_RANK else ITEM_SEARCH_FIELDS[1:]
        rest = (
            filtered(select(Item.id))
            .where(
                dialect.item_search_match(item, term, dialect_name, fields),
                _rank_hit(item, term, rank, dialect_name),
                Item.id > after_id,
            )
            .order_by(Item.id)
        )
    return found + list((await session.scalars(rest.limit(need - len(found)))).all())


async def _window(
    session: AsyncSession,
    hit_ids: Select[Any],
    extent: list[ColumnElement[Any]],
    need: int,
    postgresql: bool,
) -> tuple[list[int], tuple[Any, ...] | None]:
    """A window's hits (up to `need`), and its `extent` when they fall short (None when not).

    Both must describe the same rows: were the extent measured on a later state, an item that
    left the listing's filters meanwhile (withdrawn, in a search of active items) would stretch
    the window over an item its hits never checked, and the search would go on past it, and one
    that came in would bring back items already found. SQLite's read transaction is one
    snapshot; PostgreSQL's reads run in autocommit (app/db/engine.py), where each statement has
    its own, so there one statement returns both. Its extent is a lateral subquery behind a
    condition on the hits alone: PostgreSQL tests that once, and for a full page reads none of
    the window's rows again (only the catalogue's last id, one probe of the primary key).
    """
    if not postgresql:
        hits: list[int] = list((await session.scalars(hit_ids)).all())
        if len(hits) >= need:
            return hits, None
        return hits, tuple((await session.execute(select(*extent))).one())
    window_hits = hit_ids.subquery("window_hits")
    page = select(
        func.array_agg(aggregate_order_by(window_hits.c.id, window_hits.c.id)).label("ids")
    ).subquery("page")
    short = func.coalesce(func.cardinality(page.c.ids), 0) < need
    measured = select(*extent).where(short).lateral("measured")
    ids, *measures = (
        await session.execute(select(page.c.ids, measured).join_from(page, measured, true()))
    ).one()
    hits = [int(i) for i in ids or ()]
    return hits, None if len(hits) >= need else tuple(measures)


def _windows_read_less(still_needed: int, hits: int, checked: int, left: int) -> bool:
    """Whether reading on in id order likely reads fewer rows than a trigram index returns.

    `hits` of the last `checked` items held the term; `left` items (by id) lie past them. Windows
    read about still_needed * checked / hits more rows, the index returns about
    hits / checked * left: compared without dividing.
    """
    return hits > 0 and still_needed * checked * checked <= hits * hits * left


def _named(filtered: Filter, names: Select[tuple[str]], after_id: int, need: int) -> Select[Any]:
    """PostgreSQL: the items after `after_id` whose name is one of `names`, in id order.

    For each name the btree on item (name, id) gives its items in id order, and only the first
    `need` that pass the filters are read: a name that thousands of items hold costs the rows of
    one page, not a heap read for each of them (migration 0007). The planner would rather join
    every match and sort; the lateral subquery keeps it to a page per name.
    """
    listed = names.subquery("matching_names")
    per_name = (
        filtered(select(Item.id))
        .where(Item.name == listed.c.name, Item.id > after_id)
        .order_by(Item.id)
        .limit(need)
        .lateral("named")
    )
    return select(per_name.c.id).select_from(listed).join(per_name, true()).order_by(per_name.c.id)


async def search_page(
    session: AsyncSession,
    *,
    filtered: Filter,
    term: str,
    after: tuple[int, int] | None,
    limit: int,
    window: int | None = None,
) -> list[tuple[int, int]]:
    """Up to `limit` (rank, id) keys of a search, after the key `after`, in key order.

    `filtered` adds the listing's other filters to a SELECT on Item; `term` is normalized.
    """
    dialect_name = session.get_bind().dialect.name
    first_rank, first_id = after or (NAME_RANK, 0)
    keys: list[tuple[int, int]] = []
    for rank in (NAME_RANK, OTHER_RANK):
        need = limit - len(keys)
        if rank < first_rank or need <= 0:
            continue
        after_id = first_id if rank == first_rank else 0
        # A big page (a consumer paging 1,000 at a time) looks at a window ten times its size:
        # a term in one item of ten still fills it there, instead of from the indexes. (Tests
        # pass small windows to make the indexes find the rest.)
        span = window if window is not None else max(WINDOW, need * WINDOW_PER_ROW)
        ids = await _rank_ids(session, filtered, term, rank, after_id, need, dialect_name, span)
        keys += [(rank, i) for i in ids]
    return keys
