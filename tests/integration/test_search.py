"""Chinese search (`q`): exactly the items a plain substring scan finds, name matches first."""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Select, event, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.util import await_only

from app.db import migrations
from app.db.dialect import (
    ITEM_SEARCH_FIELDS,
    MIN_TRIGRAM_PIECES,
    autogenerate_include_name,
    item_search_match,
    matching_names,
    settle_search_indexes,
    trigram_pieces,
)
from app.db.engine import create_engine, create_read_sessionmaker
from app.enums import ItemStatus
from app.errors import InvalidInputError
from app.models import Agency, Base, Item
from app.schemas.items import ItemFilter
from app.services.items import list_items
from app.services.search import (
    MAX_TERM_LENGTH,
    _named,
    holding,
    normalize_term,
    search_page,
    words,
)
from app.settings import Settings
from tests.factories import DUNHUANG, MINQIN, import_file, insert_agency_items
from tests.plans import plan_of

# What the seeds lack, written inline: LIKE wildcards and escapes, FTS5 quotes, regex
# metacharacters, ASCII letters in both cases, and cased letters outside ASCII (Ⅲ/ⅲ, Ａ/ａ),
# which the search must not fold.
EDGE_ITEMS: tuple[dict[str, str | None], ...] = (
    {
        "name": "对完成率100%_以上单位的奖励（ABC类）",
        "legal_basis": '路径C:\\data\\规则；说 "hi" 即可',
        "responsibilities": "Ⅲ类器械与ＡＢＣ证照，型号AⅢ a.b (x+y)* [q]{2} ^$|?",
        "accountability": None,
        "remarks": "abc",
    },
    {
        "name": "对axb事项的检查",
        "legal_basis": "完成率100_以上；保险",
        "responsibilities": "ⅲ类与ａｂｃ",
        "accountability": "Abc-DEF",
        "remarks": None,
    },
)

SPECIAL_TERMS = (
    "%",
    "_",
    "\\",
    "100%",
    "100_",
    "0%_",
    "率100",
    "保%险",
    "C:\\data",
    "\\规",
    '"',
    '"hi"',
    'y "h',
    "a.b",
    "(x+y)*",
    "[q]{2}",
    "^$|?",
    "abc",
    "ABC",
    "aBc",
    "Abc-def",
    "ABC类",
    "a",
    "B",
    "Ⅲ",
    "ⅲ",
    "ⅲ类",
    "Ⅲ类器",
    "ＡＢＣ",
    "ａｂｃ",
    "ａ",
    "AⅢ",
    "aⅢ",
    "aⅲ",
    "号aⅢ",
    "号aⅲ",
    "渔船",
    "不存在的事项名称",
    "xyz",
)

_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

Texts = dict[int, tuple[str | None, ...]]


def _fold(value: str) -> str:
    return value.translate(_ASCII_FOLD)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _expected(texts: Texts, q: str) -> list[int]:
    """The oracle: a substring scan in Python, ASCII case folded, name matches first, then id."""
    term = _fold(q.strip())
    hits = [
        item_id
        for item_id, fields in texts.items()
        if any(value is not None and term in _fold(value) for value in fields)
    ]
    return sorted(hits, key=lambda item_id: (term not in _fold(texts[item_id][0] or ""), item_id))


async def _search(session: AsyncSession, q: str) -> list[int]:
    """Every item a search for `q` finds, in page order (one page holding them all)."""
    term = normalize_term(q)
    assert term is not None
    keys = await search_page(session, filtered=lambda s: s, term=term, after=None, limit=100_000)
    return [item_id for _, item_id in keys]


def _matching(q: str, dialect_name: str) -> Select[Any]:
    """The statement of the indexes' own condition: what search_page asks past its window."""
    return (
        select(Item.id).where(item_search_match(Item.__table__, q, dialect_name)).order_by(Item.id)
    )


async def _texts(session: AsyncSession) -> Texts:
    columns = [getattr(Item, name) for name in ITEM_SEARCH_FIELDS]
    rows = await session.execute(select(Item.id, *columns))
    return {row[0]: tuple(row[1:]) for row in rows}


async def _assert_matches_scan(session: AsyncSession, terms: Sequence[str]) -> None:
    texts = await _texts(session)
    for term in dict.fromkeys(terms):
        assert await _search(session, term) == _expected(texts, term), f"term {term!r}"


def _random_terms(texts: Texts, count: int, seed: int) -> list[str]:
    """Substrings of 1 to 12 characters cut at random from the stored text."""
    rng = random.Random(seed)
    values = sorted(v for fields in texts.values() for v in fields if v and v.strip())
    terms: list[str] = []
    while len(terms) < count:
        value = rng.choice(values)
        length = rng.choice((1, 2, 2, 3, 3, 4, 5, 8, 12))
        start = rng.randrange(max(1, len(value) - length + 1))
        term = value[start : start + length].strip()
        if term:
            terms.append(term)
    return terms


async def _add_edge_items(session: AsyncSession) -> list[Item]:
    agency_id = await session.scalar(select(Agency.id).order_by(Agency.id).limit(1))
    assert agency_id is not None
    items = [Item(agency_id=agency_id, **fields) for fields in EDGE_ITEMS]
    session.add_all(items)
    await session.flush()
    return items


@pytest.fixture
async def catalogue(session: AsyncSession) -> list[Item]:
    """Both seed lists, plus the inline edge items (returned)."""
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)
    return await _add_edge_items(session)


async def _fts_matches_content(session: AsyncSession) -> None:
    """SQLite: FTS5 checks its index against the item rows and raises when they disagree."""
    await session.execute(
        text("INSERT INTO item_fts (item_fts, rank) VALUES ('integrity-check', 1)")
    )


class TestSearchMatchesSubstringScan:
    async def test_every_character_of_the_names(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        texts = await _texts(session)
        chars = sorted({char for fields in texts.values() for char in fields[0] or ""})
        assert len(chars) > 100
        await _assert_matches_scan(session, [c for c in chars if c.strip()])

    async def test_random_substrings_of_the_stored_text(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        texts = await _texts(session)
        await _assert_matches_scan(session, _random_terms(texts, 400, seed=20261125))

    async def test_wildcards_quotes_regex_characters_and_case(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        await _assert_matches_scan(session, SPECIAL_TERMS)

    async def test_wildcards_are_literal(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        first, second = catalogue
        assert await _search(session, "100%") == [first.id]
        assert await _search(session, "100_") == [second.id]
        assert await _search(session, "保%险") == []
        assert await _search(session, "C:\\data") == [first.id]

    async def test_only_ascii_letters_ignore_case(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        first, second = catalogue
        assert await _search(session, "aBc") == [first.id, second.id]
        assert await _search(session, "a.b") == [first.id]
        assert await _search(session, "ⅲ类") == [second.id]
        assert await _search(session, "Ⅲ类") == [first.id]
        assert await _search(session, "ａｂｃ") == [second.id]
        assert await _search(session, "aⅢ") == [first.id]
        assert await _search(session, "aⅲ") == []
        assert await _search(session, "号aⅲ") == []

    async def test_name_matches_come_first(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        texts = await _texts(session)
        ids = await _search(session, "医疗保障")
        in_name = ["医疗保障" in (texts[i][0] or "") for i in ids]
        assert True in in_name
        assert False in in_name
        assert in_name == sorted(in_name, reverse=True)
        assert ids == _expected(texts, "医疗保障")

    async def test_longest_term_is_found(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        texts = await _texts(session)
        item_id, fields = max(texts.items(), key=lambda kv: len(kv[1][1] or ""))
        term = (fields[1] or "")[:MAX_TERM_LENGTH]
        assert len(term) == MAX_TERM_LENGTH
        ids = await _search(session, term)
        assert item_id in ids
        assert ids == _expected(texts, term)


async def _pages(
    session: AsyncSession, q: str, *, window: int, limit: int, filtered: Any = lambda s: s
) -> list[int]:
    """Every page of search_page for `q`, each asked for after the last key of the one before."""
    ids: list[int] = []
    after = None
    while True:
        keys = await search_page(
            session, filtered=filtered, term=q.strip(), after=after, limit=limit, window=window
        )
        ids += [item_id for _, item_id in keys]
        if len(keys) < limit:
            return ids
        after = keys[-1]


@contextmanager
def _recording(connection: AsyncConnection) -> Iterator[list[str]]:
    """The SQL that `connection` sends inside the block, in order."""
    sql: list[str] = []

    def record(*args: Any) -> None:
        sql.append(args[2])

    event.listen(connection.sync_connection, "before_cursor_execute", record)
    try:
        yield sql
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", record)


class TestSearchPages:
    """search_page: each rank from a window of items in id order, then from the indexes."""

    @pytest.mark.parametrize("window", [1, 2, 5, 1000])
    async def test_pages_equal_the_scan_whatever_the_window(
        self, session: AsyncSession, catalogue: list[Item], window: int
    ) -> None:
        texts = await _texts(session)
        terms = [*_random_terms(texts, 40, seed=window), *SPECIAL_TERMS, "医疗保障", "医", "法"]
        for term in dict.fromkeys(terms):
            for limit in (3, 50):
                got = await _pages(session, term, window=window, limit=limit)
                assert got == _expected(texts, term), f"term {term!r}, limit {limit}"

    @pytest.mark.parametrize("window", [1, 1000])
    async def test_long_terms_and_their_pieces_apart(
        self, session: AsyncSession, catalogue: list[Item], window: int
    ) -> None:
        # Long terms are looked up by their 3-character pieces on PostgreSQL and decided whole:
        # the names, cuts of every field across punctuation, and pieces of one put together from
        # apart, which the probe's pattern admits and the term itself does not.
        texts = await _texts(session)
        names = sorted({fields[0] for fields in texts.values() if fields[0]})
        long_names = [n for n in names if len(trigram_pieces(n)) >= MIN_TRIGRAM_PIECES]
        assert len(long_names) > 20
        rng = random.Random(20261204)
        values = sorted({v for fields in texts.values() for v in fields if v and len(v) > 40})
        cuts = []
        for value in rng.sample(values, 60):
            start, length = rng.randrange(len(value) - 40), rng.randrange(9, 41)
            cuts.append(value[start : start + length])
        apart = [v[0:3] + v[5:8] + v[10:13] for v in [*long_names, *cuts]]
        assert any(not _expected(texts, term) for term in apart)
        for term in dict.fromkeys([*long_names, *cuts, *apart]):
            got = await _pages(session, term, window=window, limit=50)
            assert got == _expected(texts, term), f"term {term!r}"

    @pytest.mark.postgres
    async def test_a_term_common_in_the_text_is_read_by_windows_a_rare_one_by_the_index(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # Every item's legal basis cites a phrase two names hold too; one item's remarks hold a
        # rare one. One character each: PostgreSQL's coarse character index serves them.
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
        for n, item in enumerate(items):
            item.legal_basis = f"{item.legal_basis}兹依本款"
            if n in (3, 17):
                item.name = f"{item.name}（兹依本款）"
        items[9].remarks = "罕见之词"
        await session.flush()
        texts = await _texts(session)
        common, rare = "兹", "罕"
        connection = await session.connection()
        for term, index_used in ((common, False), (rare, True)):
            with _recording(connection) as sql:
                got = await _pages(session, term, window=2, limit=3)
            assert got == _expected(texts, term), term
            assert any("item_search_chars" in statement for statement in sql) is index_used, term

    @pytest.mark.postgres
    async def test_a_term_many_names_hold_reads_on_in_windows_a_rare_one_takes_the_list(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # Every other name holds one term, the last item's name another: past a window of two,
        # the first is a few rows away in id order, the second is found through the list of
        # names. Neither is in another field.
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
        for n, item in enumerate(items):
            if n % 2 == 0:
                item.name = f"{item.name}（兹依本款办理）"
        items[-1].name = f"{items[-1].name}（罕见之名）"
        await session.flush()
        for term, via_list in (("兹依本款", False), ("罕见之名", True)):
            sql = await self._statements(session, term)
            assert any("search_name" in statement for statement in sql) is via_list, term

    @pytest.mark.postgres
    async def test_a_short_term_few_names_hold_takes_the_list_even_where_the_text_is_full(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # Every item's legal basis holds the term and one name does: the name rank no longer
        # reads the catalogue in windows for it (6 s a page at 1M), it asks the list of names.
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
        for item in items:
            item.legal_basis = f"{item.legal_basis}兹依"
        items[-1].name = f"{items[-1].name}（兹依）"
        await session.flush()
        sql = await self._statements(session, "兹依")
        assert any("search_name" in statement for statement in sql)
        assert not any("item_search_chars" in statement for statement in sql)

    @pytest.mark.postgres
    async def test_a_term_the_text_often_holds_reads_on_in_windows_a_rare_one_takes_the_index(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # The same past the name rank: one term in every other item's legal basis, another in
        # the last item's remarks; no name holds either. Only the index's statement reads item
        # outside a window.
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
        for n, item in enumerate(items):
            if n % 2 == 0:
                item.legal_basis = f"{item.legal_basis}兹依本款办理"
        items[-1].remarks = "罕见之词语"
        await session.flush()
        for term, index_used in (("兹依本款", False), ("罕见之词", True)):
            sql = await self._statements(session, term)
            by_index = [s for s in sql if s.startswith("SELECT item.id") and "search_" not in s]
            assert bool(by_index) is index_used, term

    async def _statements(self, session: AsyncSession, term: str) -> list[str]:
        """The SQL of the first page of a search for `term` (window 2, pages of 3), with many
        items left past it; every page of the search is checked against a substring scan."""
        texts = await _texts(session)
        assert await _pages(session, term, window=2, limit=3) == _expected(texts, term), term
        with _recording(await session.connection()) as sql:
            await search_page(
                session, filtered=lambda s: s, term=term, after=None, limit=3, window=2
            )
        return sql

    @pytest.mark.parametrize("window", [2, 1000])
    async def test_the_listing_filters_apply_to_window_and_index_alike(
        self, session: AsyncSession, catalogue: list[Item], window: int
    ) -> None:
        first, _second = catalogue
        first.status = ItemStatus.WITHDRAWN
        await session.flush()
        agency_id = first.agency_id
        active = {
            row.id
            for row in await session.execute(
                select(Item.id).where(Item.agency_id == agency_id, Item.status == "active")
            )
        }
        texts = await _texts(session)

        def filtered(stmt: Any) -> Any:
            return stmt.where(Item.agency_id == agency_id, Item.status == ItemStatus.ACTIVE)

        for term in ("医疗保障", "医", "aBc", "处罚", "法"):
            want = [i for i in _expected(texts, term) if i in active]
            got = await _pages(session, term, window=window, limit=4, filtered=filtered)
            assert got == want, term
        assert first.id not in await _pages(
            session, "aBc", window=window, limit=4, filtered=filtered
        )

    @pytest.mark.parametrize("window", [1, 2, 1000])
    async def test_several_words_hold_every_word_whatever_the_window(
        self, session: AsyncSession, catalogue: list[Item], window: int
    ) -> None:
        texts = await _texts(session)
        found = narrowed = 0
        for q in ("医疗保障 处罚", "法 医", "基金 骗取 罚款", "aBc 医疗", "医疗保障基金 基金"):
            lead, others = words(q)
            also = holding(others, _dialect(session))
            expected_lead = _expected(texts, lead)
            want = [
                i
                for i in expected_lead
                if all(
                    any(v is not None and _fold(w) in _fold(v) for v in texts[i]) for w in others
                )
            ]
            got = await _pages(
                session, lead, window=window, limit=3, filtered=lambda s, c=also: s.where(*c)
            )
            assert got == want, q
            narrowed += len(expected_lead) - len(want)
            found += len(want)
        assert found, "some items hold every word"
        assert narrowed, "the other words filter some of the lead word's items out"
        assert words("基金 医疗保障基金") == ("医疗保障基金", [])
        assert words("法 医 医") == ("法", ["医"])


@contextlib.asynccontextmanager
async def _committing_after_first_window(
    engine: AsyncEngine, change: Any
) -> AsyncIterator[tuple[AsyncSession, list[str]]]:
    """A read session, as requests get one, on which another connection commits `change` right
    after the first statement that reads a search window; and that statement, once it ran."""
    fired: list[str] = []
    async with engine.connect() as writer, create_read_sessionmaker(engine)() as session:
        connection = await session.connection()

        def commit_change(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "search_window" in statement and not fired:
                fired.append(statement)
                await_only(writer.execute(change))
                await_only(writer.commit())

        event.listen(connection.sync_connection, "after_cursor_execute", commit_change)
        yield session, fired


class TestSearchReadsOneState:
    """A search sees one state of the catalogue, on the read sessions requests get.

    It guards PostgreSQL, whose reads run in autocommit (a snapshot a statement); SQLite's read
    transaction is one snapshot whatever the statements, so there it passes either way.
    """

    @pytest.mark.parametrize(
        ("status_before", "status_after"),
        [(ItemStatus.ACTIVE, ItemStatus.WITHDRAWN), (ItemStatus.WITHDRAWN, ItemStatus.ACTIVE)],
    )
    async def test_an_item_changing_status_mid_window_neither_hides_nor_repeats_a_match(
        self, migrated_url: str, status_before: ItemStatus, status_after: ItemStatus
    ) -> None:
        # A search of active items with a window of three: item 2 leaves (or joins) the listing
        # right after the first window is checked. Were the window's extent measured after that,
        # it would end at item 4, unchecked, and item 4, the only match, would be skipped (or,
        # the window ending at 3, item 4 would be found twice).
        engine = create_engine(Settings(database_url=migrated_url))
        try:
            async with engine.begin() as conn:
                await insert_agency_items(
                    conn,
                    [
                        {
                            "id": item_id,
                            "name": f"对第{item_id}项{'兹依' if item_id == 4 else ''}事项的处罚",
                            "status": status_before if item_id == 2 else ItemStatus.ACTIVE,
                        }
                        for item_id in range(1, 7)
                    ],
                    now=NOW,
                )
            change = update(Item).where(Item.id == 2).values(status=status_after)
            async with _committing_after_first_window(engine, change) as (session, changed):
                keys = await search_page(
                    session,
                    filtered=lambda stmt: stmt.where(Item.status == ItemStatus.ACTIVE),
                    term="兹依",
                    after=None,
                    limit=3,
                    window=3,
                )
            assert changed, "the status did not change during the search"
            assert keys == [(0, 4)]
        finally:
            await engine.dispose()

    async def test_an_item_renamed_between_the_ranks_is_shown_once_as_it_matched(
        self, migrated_url: str
    ) -> None:
        # Item 4 holds the term in its name and its legal basis. Right after the name rank has
        # read its window, the name loses the term. Read in two states, the other rank would
        # find item 4 again (its name no longer holds the term), and the page would show it
        # twice, both times under a name without the term.
        engine = create_engine(Settings(database_url=migrated_url))
        try:
            async with engine.begin() as conn:
                await insert_agency_items(
                    conn,
                    [
                        {"id": item_id, "name": f"对第{item_id}项事项的处罚"}
                        for item_id in range(1, 7)
                        if item_id != 4
                    ]
                    + [{"id": 4, "name": "对第4项兹依事项的处罚", "legal_basis": "《兹依条例》"}],
                    now=NOW,
                )
            rename = update(Item).where(Item.id == 4).values(name="对第4项事项的处罚")
            async with _committing_after_first_window(engine, rename) as (session, renamed):
                page = await list_items(
                    session, filters=ItemFilter(q="兹依"), limit=3, cursor=None, secret="s"
                )
            assert renamed, "the item was not renamed during the search"
            assert [(item.id, item.name) for item in page.items] == [(4, "对第4项兹依事项的处罚")]
        finally:
            await engine.dispose()


class TestSearchFollowsWrites:
    async def test_renamed_item_is_found_by_its_new_name_only(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # The last seed item: the first would be found in a window of one, without an index.
        seeds = select(Item).where(Item.id.not_in([edge.id for edge in catalogue]))
        item = await session.scalar(seeds.order_by(Item.id.desc()).limit(1))
        assert item is not None
        old_name = item.name
        item.name = "对违规使用医保基金行为的ZQX专项检查"
        await session.flush()
        assert item.id in await _search(session, "ZQX专项")
        assert item.id in await _search(session, "zqx")
        # And past a window of one item, through the indexes (on PostgreSQL the list of names).
        assert item.id in await _pages(session, "ZQX专项", window=1, limit=3)
        assert item.id in await _pages(session, "违规使用医保基金", window=1, limit=3)
        texts = await _texts(session)
        for term in (old_name, "ZQX专项", "违规使用医保基金"):
            assert await _pages(session, term, window=1, limit=3) == _expected(texts, term)
        await _assert_matches_scan(
            session, [old_name, old_name[2:6], old_name[:2], "违规使用", "专项检", "Z", "项检"]
        )
        if _dialect(session) == "sqlite":
            await _fts_matches_content(session)

    async def test_changed_text_field_is_searched(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        first, _second = catalogue
        first.remarks = "新增备注：渔业船舶检验"
        first.legal_basis = None
        await session.flush()
        assert first.id in await _search(session, "渔业船舶")
        assert first.id in await _search(session, "渔")
        assert await _search(session, "C:\\data") == []
        await _assert_matches_scan(session, ["渔业船舶", "渔业", "渔", "备注", "规则", "\\"])
        if _dialect(session) == "sqlite":
            await _fts_matches_content(session)

    async def test_deleted_item_is_not_found(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # Items are withdrawn, not deleted, but a rolled-back import or a purge still deletes rows.
        first, second = catalogue
        await session.delete(first)
        await session.flush()
        assert await _search(session, "aBc") == [second.id]
        if _dialect(session) == "sqlite":
            await _fts_matches_content(session)

    async def test_withdrawn_items_are_still_found(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        first, _second = catalogue
        first.status = ItemStatus.WITHDRAWN
        await session.flush()
        assert first.id in await _search(session, "ABC类")
        assert first.id in await _search(session, "%")


class TestTheListOfNames:
    """PostgreSQL: search_name lists every name items hold, whoever wrote them (migration 0007)."""

    @pytest.mark.postgres
    async def test_every_name_written_is_listed_once_per_writer(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        unlisted = text(
            "SELECT count(*) FROM item WHERE name NOT IN (SELECT name FROM search_name)"
        )
        listed = text("SELECT count(*), count(DISTINCT name) FROM search_name")
        assert await session.scalar(unlisted) == 0
        rows, names = (await session.execute(listed)).one()
        assert rows == names > 0
        first, second = catalogue
        first.name = "对列表新名称甲的处罚"  # an UPDATE
        session.add(Item(agency_id=second.agency_id, name="对列表新名称乙的处罚"))  # an INSERT
        await session.flush()
        assert await session.scalar(unlisted) == 0
        assert (await session.execute(listed)).one() == (rows + 2, names + 2)
        # Names already listed are not listed again: a re-import writes the same names.
        await import_file(session, MINQIN)
        assert (await session.execute(listed)).one() == (rows + 2, names + 2)

    @pytest.mark.postgres
    async def test_a_writer_not_granted_the_list_still_lists_its_names(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # An application role granted the catalogue's tables but not search_name, which is
        # search's own bookkeeping: its writes of items stand, and their names are listed
        # (migration 0008; before it, every write was refused). Undone with the transaction.
        role = f"powercat_writer_{uuid.uuid4().hex[:12]}"
        for statement in (
            f"CREATE ROLE {role} NOLOGIN",
            f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
            f"REVOKE ALL ON search_name FROM {role}",
            f"REVOKE ALL ON SEQUENCE search_name_id_seq FROM {role}",
            f"SET LOCAL ROLE {role}",
        ):
            await session.execute(text(statement))
        first, second = catalogue
        first.name = "对无权限写者新名称甲的处罚"  # an UPDATE
        session.add(Item(agency_id=second.agency_id, name="对无权限写者新名称乙的处罚"))
        await session.flush()
        await session.execute(text("RESET ROLE"))
        listed = await session.scalars(
            text("SELECT name FROM search_name WHERE name LIKE '对无权限写者%' ORDER BY name")
        )
        assert listed.all() == ["对无权限写者新名称乙的处罚", "对无权限写者新名称甲的处罚"]

    @pytest.mark.postgres
    async def test_a_name_listed_twice_finds_its_items_once(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # Two writers adding the same new name at once each list it (see the next test).
        await session.execute(text("INSERT INTO search_name (name) SELECT name FROM search_name"))
        texts = await _texts(session)
        names = sorted({fields[0] for fields in texts.values() if fields[0]})
        terms = [*names[::7], "处罚", "行政处罚", "医疗保障"]
        for term in terms:
            assert await _pages(session, term, window=1, limit=3) == _expected(texts, term), term

    @pytest.mark.postgres
    async def test_writers_adding_the_same_new_name_do_not_wait_for_each_other(
        self, engine: AsyncEngine
    ) -> None:
        # With a unique key the second would wait for the first to commit, and two imports adding
        # each other's new names in turn would deadlock.
        name = f"对并发新名称{uuid.uuid4().hex[:8]}的处罚"
        async with engine.connect() as first, engine.connect() as second:
            for n, conn in enumerate((first, second)):
                await conn.begin()
                await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                agency_id = await conn.scalar(
                    text(
                        "INSERT INTO agency (name, created_at, updated_at)"
                        " VALUES (:agency, now(), now()) RETURNING id"
                    ),
                    {"agency": f"并发测试局{n}{uuid.uuid4().hex[:8]}"},
                )
                await conn.execute(
                    text(
                        "INSERT INTO item (agency_id, name, legal_citations, status, version,"
                        " created_at, updated_at) VALUES (:agency_id, :name, '[]', 'active', 1,"
                        " now(), now())"
                    ),
                    {"agency_id": agency_id, "name": name},
                )
            for conn in (first, second):
                listed = text("SELECT count(*) FROM search_name WHERE name = :name")
                assert await conn.scalar(listed, {"name": name}) == 1
                await conn.rollback()


class TestTrigramPieces:
    @pytest.mark.parametrize(
        ("term", "pieces"),
        [
            ("医保基金", ["医保基"]),
            ("骗取医疗保障基金", ["骗取医", "疗保障"]),
            ("对（市本级）医疗保险费的征收", ["市本级", "医疗保", "险费的"]),
            ("1.2.3", []),
            ("第12条第3款规定", ["第12", "条第3", "款规定"]),
        ],
    )
    def test_disjoint_runs_of_letters_and_digits_in_order(
        self, term: str, pieces: list[str]
    ) -> None:
        assert trigram_pieces(term) == pieces


class TestTerm:
    @pytest.mark.parametrize("q", ["", "   ", "\u3000\t\n", None])
    def test_a_blank_term_is_no_search(self, q: str | None) -> None:
        assert normalize_term(q) is None

    async def test_surrounding_whitespace_is_ignored(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        assert await _search(session, "  \u3000医保基金 \t") == await _search(session, "医保基金")

    @pytest.mark.parametrize(
        "q", ["医" * (MAX_TERM_LENGTH + 1), "医\x00保", " ".join("医保基金骗取处罚罚款")]
    )
    def test_overlong_or_nul_term_or_too_many_words_is_invalid_input(self, q: str) -> None:
        with pytest.raises(InvalidInputError):
            normalize_term(q)

    def test_eight_words_are_a_term(self) -> None:
        assert normalize_term(" ".join("医保基金骗取处罚")) == "医 保 基 金 骗 取 处 罚"


async def _plan(session: AsyncSession, stmt: Select[Any]) -> str:
    """The database's plan for `stmt`, as one text; PostgreSQL's as a prepared statement's."""
    conn = await session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    params = tuple(compiled.params[key] for key in compiled.positiontup or ())
    return await plan_of(conn, str(compiled), params)


# What a term of 3+ characters is looked for through on PostgreSQL: each field's trigram index
# but the name's, whose trigram index is on the list of distinct names (migration 0007), and the
# btree that gives the items of those names.
TRIGRAM_INDEXES = [f"ix_item_{field}_trgm" for field in ITEM_SEARCH_FIELDS[1:]]
TRIGRAM_INDEXES += ["ix_search_name_trgm", "ix_item_name_id"]


class TestIndexesServeTheSearch:
    @pytest.mark.postgres
    @pytest.mark.parametrize(
        ("q", "indexes"),
        [
            ("医保基金", TRIGRAM_INDEXES),
            ("Abc", TRIGRAM_INDEXES),
            ("医", ["ix_item_search_chars"]),
            ("医保", ["ix_item_search_chars"]),
            ("^$|?", ["ix_item_search_chars"]),
        ],
    )
    async def test_postgresql_plans_use_the_search_indexes(
        self, session: AsyncSession, catalogue: list[Item], q: str, indexes: list[str]
    ) -> None:
        # A few dozen rows make a full scan cheapest; forbidding scans that need no search
        # condition shows the planner can use the indexes, i.e. the query repeats their
        # expressions and operators exactly. The generic plan (what a prepared statement may
        # get after five runs) sees parameters, not values: the index constants must be SQL.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_indexscan = off"))
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        plan = await _plan(session, _matching(q, "postgresql"))
        for index in indexes:
            assert f"Bitmap Index Scan on {index}" in plan, plan

    @pytest.mark.postgres
    async def test_a_long_term_probes_the_indexes_with_its_pieces(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        q = "骗取医疗保障基金支出的处罚"
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_indexscan = off"))
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        plan = await _plan(session, _matching(q, "postgresql"))
        lines = plan.splitlines()
        # The other fields' own indexes, and the list of names' for the name.
        for index in TRIGRAM_INDEXES[:-1]:
            scan = next(n for n, line in enumerate(lines) if f"on {index}" in line)
            assert "Index Cond:" in lines[scan + 1], plan
            assert "~~ '%骗取医%疗保障%基金支%出的处%'::text" in lines[scan + 1], plan
        # The whole term is only the deciding condition, once a field, which no index serves.
        assert plan.count(f"'{q}'::text) > 0") == len(ITEM_SEARCH_FIELDS), plan
        assert plan.count("strpos(") == len(ITEM_SEARCH_FIELDS), plan
        assert f"%{q}%" not in plan, plan

    @pytest.mark.postgres
    async def test_the_name_rank_reads_a_page_of_each_name_through_its_btree(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        # Past its window the name rank takes the names from the list's trigram index, and for
        # each the next items by (name, id) up to the page: not every item of the name.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        # The list as large as a big catalogue's (~90,000 names at 1M items), rolled back with the
        # test: over the seeds' few hundred names the planner would rightly read all of its btree
        # (and did, or did not, by what earlier tests had left in the table's size and statistics).
        await session.execute(
            text(
                "INSERT INTO search_name (name)"
                " SELECT '填充事项' || n FROM generate_series(1, :count) AS n"
            ),
            {"count": 20_000},
        )
        names = matching_names("骗取医疗保障基金支出的处罚", "postgresql")
        stmt = _named(lambda s: s, names, after_id=0, need=20).limit(20)
        plan = await _plan(session, stmt)
        lines = plan.splitlines()
        scan = next(n for n, line in enumerate(lines) if "Scan using ix_item_name_id" in line)
        assert "Limit" in lines[scan - 1], plan
        assert "Index Cond: ((name = search_name.name) AND (id > 0))" in lines[scan + 1], plan
        assert "Bitmap Index Scan on ix_search_name_trgm" in plan, plan

    @pytest.mark.sqlite
    async def test_sqlite_three_characters_use_fts5(
        self, session: AsyncSession, catalogue: list[Item]
    ) -> None:
        plan = await _plan(session, _matching("医保基金", "sqlite"))
        assert "SCAN item_fts VIRTUAL TABLE INDEX" in plan, plan
        assert "SEARCH item USING INTEGER PRIMARY KEY" in plan, plan

    @pytest.mark.postgres
    async def test_an_import_leaves_nothing_pending_in_the_search_indexes(
        self, session: AsyncSession
    ) -> None:
        # New rows wait in a GIN index's pending list, which every search reads through in full;
        # an import merges them before it commits, so a merge after it finds no page left.
        report = await import_file(session, MINQIN)
        assert report.status == "imported"
        merged = await session.execute(
            text(
                "SELECT relname, gin_clean_pending_list(oid::regclass) FROM pg_class"
                " WHERE relname = ANY(:names)"
            ),
            {"names": sorted(PG_GIN_INDEXES)},
        )
        assert dict(merged.all()) == dict.fromkeys(PG_GIN_INDEXES, 0)

    @pytest.mark.postgres
    async def test_a_role_that_may_not_merge_the_lists_leaves_them(
        self, session: AsyncSession
    ) -> None:
        # Only the indexes' owner may merge their lists: another role's import must not fail on
        # it. (CREATE ROLE is undone with the test's transaction.)
        role = f"powercat_not_owner_{uuid.uuid4().hex[:12]}"
        await session.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        await session.execute(text(f"SET LOCAL ROLE {role}"))
        assert await settle_search_indexes(session) == 0
        await session.execute(text("RESET ROLE"))
        await import_file(session, MINQIN)
        assert await settle_search_indexes(session) == 0  # the import's own merge left none


# --- The migration ----------------------------------------------------------------------------

# Migration 0002's indexes, and what 0007 makes of them: the name's trigram index moves to the
# list of names, and item gets a btree on (name, id).
PG_INDEXES = {f"ix_item_{field}_trgm" for field in ITEM_SEARCH_FIELDS} | {"ix_item_search_chars"}
PG_OTHERS = {"item_search_chars", "pg_trgm"}
PG_NAME_LIST = {"search_name", "ix_search_name_name", "ix_search_name_trgm", "search_name_add"}
PG_NAME_LIST |= {"item_search_name_insert", "item_search_name_update"}
PG_HEAD_INDEXES = PG_INDEXES - {"ix_item_name_trgm"} | {"ix_item_name_id"}
PG_HEAD = PG_HEAD_INDEXES | PG_OTHERS | PG_NAME_LIST
# The GIN indexes at head, whose pending lists imports merge.
PG_GIN_INDEXES = PG_INDEXES - {"ix_item_name_trgm"} | {"ix_search_name_trgm"}
SQLITE_TABLES = {"item_fts", "item_fts_config", "item_fts_data", "item_fts_docsize", "item_fts_idx"}
SQLITE_TRIGGERS = {"item_fts_after_insert", "item_fts_after_update", "item_fts_after_delete"}


def _run(url: str, fn: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.begin() as conn:
                return await fn(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _pending_limits(conn: AsyncConnection) -> dict[str, str | None]:
    """PostgreSQL: each search index's gin_pending_list_limit option (None: the server's)."""
    rows = await conn.execute(
        text(
            "SELECT c.relname, (SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) AS o"
            " WHERE o LIKE 'gin_pending_list_limit=%') FROM pg_class AS c"
            " WHERE c.relname = ANY(:names)"
        ),
        {"names": sorted(PG_INDEXES)},
    )
    return dict(rows.all())


async def _name_list_runs_as_owner(conn: AsyncConnection) -> bool | None:
    """PostgreSQL: whether search_name_add() is SECURITY DEFINER."""
    found = text("SELECT prosecdef FROM pg_proc WHERE proname = 'search_name_add'")
    return await conn.scalar(found)  # type: ignore[no-any-return]


async def _search_objects(conn: AsyncConnection) -> set[str]:
    """The names of the search objects present: indexes, extension, tables, triggers."""
    if conn.dialect.name == "postgresql":
        rows = await conn.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE tablename IN ('item', 'search_name') "
                "UNION ALL SELECT proname FROM pg_proc "
                "UNION ALL SELECT extname FROM pg_extension WHERE extname = 'pg_trgm' "
                "UNION ALL SELECT tablename FROM pg_tables WHERE tablename = 'search_name' "
                "UNION ALL SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            )
        )
        known = PG_INDEXES | PG_OTHERS | PG_HEAD
        return {name for (name,) in rows if name in known}
    rows = await conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'item_fts%'"))
    return {name for (name,) in rows}


NOW = datetime(2026, 11, 25, tzinfo=UTC)


async def _insert_item(conn: AsyncConnection) -> None:
    item = {
        "id": 1,
        "name": "对骗取医保基金支出的处罚",
        "legal_basis": "《中华人民共和国社会保险法》第八十七条",
    }
    await insert_agency_items(conn, [item], now=NOW)


async def _found(conn: AsyncConnection) -> list[list[int]]:
    results = []
    for q in ("医保基金", "骗", "保险法", "法"):
        results.append([row.id for row in await conn.execute(_matching(q, conn.dialect.name))])
    return results


def _diff(conn: Connection, filtered: bool) -> list[Any]:
    opts: dict[str, Any] = {"compare_type": True}
    if filtered:
        opts["include_name"] = autogenerate_include_name
    return list(compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata))


def _diff_names(diff: list[Any]) -> set[str]:
    return {getattr(entry[1], "name", None) or "?" for entry in diff}


class TestSearchMigration:
    def test_adds_the_search_objects_and_removes_them_on_downgrade(self, empty_url: str) -> None:
        postgres = empty_url.startswith("postgresql")
        expected = PG_INDEXES | PG_OTHERS if postgres else SQLITE_TABLES | SQLITE_TRIGGERS
        at_head = PG_HEAD if postgres else expected
        migrations.upgrade(empty_url, "0001")
        assert _run(empty_url, _search_objects) == set()
        migrations.upgrade(empty_url, "0002")
        assert _run(empty_url, _search_objects) == expected
        migrations.downgrade(empty_url, "0001")
        # pg_trgm stays installed: it may have been there before, and others may use it.
        assert _run(empty_url, _search_objects) == expected & {"pg_trgm"}
        migrations.upgrade(empty_url)
        assert _run(empty_url, _search_objects) == at_head
        if postgres:  # 0008: the list's trigger function runs as its owner
            assert _run(empty_url, _name_list_runs_as_owner) is True
            migrations.downgrade(empty_url, "0007")
            assert _run(empty_url, _name_list_runs_as_owner) is False
        # 0007 down gives back 0002's name index (with 0006's pending-list limit) and drops the
        # list of names; nothing on SQLite.
        migrations.downgrade(empty_url, "0006")
        assert _run(empty_url, _search_objects) == expected
        if postgres:
            assert _run(empty_url, _pending_limits) == dict.fromkeys(PG_INDEXES, "1024")

    def test_upgrade_indexes_the_rows_already_there(self, empty_url: str) -> None:
        # Through 0002 (FTS5, trigram indexes) and 0007 (the list of names) alike.
        migrations.upgrade(empty_url, "0001")
        _run(empty_url, _insert_item)
        migrations.upgrade(empty_url)
        assert _run(empty_url, _found) == [[1], [1], [1], [1]]

    @pytest.mark.postgres
    def test_bounds_the_pending_lists_and_resets_them_on_downgrade(self, empty_url: str) -> None:
        migrations.upgrade(empty_url, "0006")
        assert _run(empty_url, _pending_limits) == dict.fromkeys(PG_INDEXES, "1024")
        migrations.downgrade(empty_url, "0005")
        assert _run(empty_url, _pending_limits) == dict.fromkeys(PG_INDEXES)

    def test_models_agree_apart_from_the_search_objects(self, empty_url: str) -> None:
        migrations.upgrade(empty_url)

        async def diffs(conn: AsyncConnection) -> tuple[list[Any], list[Any]]:
            filtered = await conn.run_sync(_diff, True)
            unfiltered = await conn.run_sync(_diff, False)
            return filtered, unfiltered

        filtered, unfiltered = _run(empty_url, diffs)
        assert filtered == []
        # The filter hides the single-database objects and nothing else: the search objects,
        # and on PostgreSQL the change feed's order index (migration 0004).
        assert _diff_names(unfiltered) == (
            PG_HEAD_INDEXES
            | {"ix_change_feed_order", "search_name", "ix_search_name_name", "ix_search_name_trgm"}
            if empty_url.startswith("postgresql")
            else SQLITE_TABLES
        )
