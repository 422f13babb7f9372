"""Dialect differences kept in one place: transaction ids for the change feed, busy detection."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    FromClause,
    Integer,
    LargeBinary,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession


async def current_txid(session: AsyncSession) -> int | None:
    """PostgreSQL's id of the current transaction (for the change feed); None on SQLite.

    SQLite serialises writers, so positions there are always taken in commit order.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    value = (await session.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one()
    return int(value)


async def feed_horizon(session: AsyncSession) -> tuple[int, int | None] | None:
    """(oldest writing transaction of this database still running, this transaction's own id).

    Changes of transactions below the first are final; the reader's own writes are visible to it.
    Only transactions of this database count (transaction ids are cluster-wide, and a long one in
    another database could not add to our change log); with none running, everything committed
    so far is final. Needs the writers' backends to be visible in pg_stat_activity (same role, or
    pg_read_all_stats). None on SQLite, whose serialised writers commit in position order.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    row = (
        await session.execute(
            text(
                "SELECT coalesce(("
                " SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x"
                " WHERE (x::text::bigint & 4294967295) IN ("
                "  SELECT backend_xid::text::bigint FROM pg_stat_activity"
                "  WHERE datname = current_database() AND backend_xid IS NOT NULL"
                "   AND pid <> pg_backend_pid())"
                "), pg_snapshot_xmax(pg_current_snapshot())::text::bigint), "
                "pg_current_xact_id_if_assigned()::text::bigint"
            )
        )
    ).one()
    return int(row[0]), (int(row[1]) if row[1] is not None else None)


def json_array_contains(
    dialect_name: str,
    column: ColumnExpressionArgument[Any],
    value: int,
    *,
    key: str | None = None,
) -> ColumnElement[bool]:
    """True where the JSON array in `column` (or in its member `key`) holds the integer `value`.

    `key` is a constant member name, never user input.
    """
    if dialect_name == "postgresql":
        # JSONB containment, which a GIN index on the column could serve.
        doc = type_coerce(column, JSONB)
        target = type_coerce(doc[key], JSONB) if key is not None else doc
        return target.contains([value])
    # SQLite has no containment operator: walk the array with the json_each table function.
    each = func.json_each(column, "$" if key is None else f"$.{key}").table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


# --- Item search (`q`): predicates phrased for the indexes of migration 0002 ------------------

# The searched item fields, in the order of ix_item_search_chars and of the item_fts columns.
ITEM_SEARCH_FIELDS: tuple[str, ...] = (
    "name",
    "legal_basis",
    "responsibilities",
    "accountability",
    "remarks",
)

# What migrations 0002 and 0007 create for one database only: FTS5 virtual and shadow tables on
# SQLite; on PostgreSQL GIN indexes (pg_trgm operator classes, a function expression), the list
# of distinct names with its trigram index, and item's (name, id) btree. Declared in the models
# they would be missing on the other database, so autogenerate leaves exactly these names out.
_SEARCH_ONLY_TABLES = frozenset(
    {"item_fts", "item_fts_config", "item_fts_data", "item_fts_docsize", "item_fts_idx"}
    | {"search_name"}
)
# item.name has no trigram index of its own since 0007: search_name's serves it.
_SEARCH_ONLY_INDEXES = frozenset(
    {f"ix_item_{field}_trgm" for field in ITEM_SEARCH_FIELDS[1:]}
    | {"ix_item_search_chars", "ix_item_name_id"}
)
# The GIN indexes whose pending lists an import merges (settle_search_indexes).
_SEARCH_GIN_INDEXES = frozenset(
    {f"ix_item_{field}_trgm" for field in ITEM_SEARCH_FIELDS[1:]}
    | {"ix_item_search_chars", "ix_search_name_trgm"}
)

_ITEM_FTS = table("item_fts", column("rowid", Integer))
# PostgreSQL: every name an item holds or held (migration 0007), for the names' trigram index.
SEARCH_NAME = table("search_name", column("name", Text))

# Migration 0004's index of the change feed's order, on PostgreSQL only (see feed_order).
_FEED_ONLY_INDEXES = frozenset({"ix_change_feed_order"})


def autogenerate_include_name(
    name: str | None, type_: str, parent_names: Mapping[str, str | None]
) -> bool:
    """Alembic `include_name`: False for the single-database objects of migrations 0002 and 0004."""
    if type_ == "table":
        return name not in _SEARCH_ONLY_TABLES
    if type_ == "index" and parent_names.get("table_name") == "item":
        return name not in _SEARCH_ONLY_INDEXES
    if type_ == "index" and parent_names.get("table_name") == "change":
        return name not in _FEED_ONLY_INDEXES
    return True


async def settle_search_indexes(session: AsyncSession) -> int:
    """PostgreSQL: merge the search indexes' pending lists into the indexes; the pages merged.

    A GIN index takes new rows into an unordered pending list (fastupdate), which every search
    reads through in full until it is merged: after an import of 10,000 items, ~300 pages an index
    added 35 ms to a search. Writers merge it only once it passes its limit (migration 0006), and
    autovacuum rarely on a big table, so an import merges what it added before it commits. Only
    an owner of the indexes (or a superuser) may; for any other role this merges nothing, and the
    limit still bounds the list. Nothing to do on SQLite, whose FTS5 merges as it writes.
    """
    if session.get_bind().dialect.name != "postgresql":
        return 0
    pages = await session.scalar(
        text(
            "SELECT coalesce(sum(gin_clean_pending_list(c.oid::regclass)), 0) FROM pg_class AS c"
            " WHERE c.oid IN (SELECT to_regclass(name) FROM unnest(:names) AS name)"
            " AND pg_has_role(c.relowner, 'USAGE')"
        ).bindparams(bindparam("names", sorted(_SEARCH_GIN_INDEXES), type_=ARRAY(Text)))
    )
    return int(pages or 0)


# When an import refreshes the planner's statistics: once what it wrote, with the changes made
# since the last analyze, is as much as the table held then (so the statistics describe at least
# half of it). Autovacuum analyzes at a tenth, in the background; at that rate an import would
# analyze after every file of a first load, and each analyze samples ~30,000 pages (1-3.5 s here
# at 100k and at 1M items).
ANALYZE_MIN_ROWS = 50
ANALYZE_GROWTH = 1.0


async def refresh_statistics(session: AsyncSession, written: Mapping[str, int]) -> list[str]:
    """PostgreSQL: ANALYZE the tables that a write has outgrown the statistics of; their names.

    `written` maps a table to the rows this transaction wrote to it. A table is analyzed when
    those rows and the changes committed since its last analyze pass ANALYZE_MIN_ROWS +
    ANALYZE_GROWTH x the rows it was last analyzed with. Without it a bulk import leaves the
    planner blind until autovacuum's next round, or for good where autovacuum is off: with no
    statistics a lookup by code, estimated at ~2,000 rows instead of 1, hash-joined every agency
    on each call, 12 times slower at 1M items than with them (docs/performance.md). Drift in
    what the rows hold, short of that growth, is autovacuum's to follow.

    It runs in the writer's transaction, so the statistics describe the rows it wrote (its
    own are visible to it) and roll back with it, all but pg_class's row count, which PostgreSQL
    writes in place and the next analyze corrects. (Its own rows join the count of changes
    when it commits, after the analyze that saw them, so the next analyze comes a little early.)
    SKIP_LOCKED: a table another transaction is analyzing is left to it, rather than waited for.
    Like the merge above, only the tables' owners (or a superuser) may; other roles analyze
    nothing. Nothing on SQLite, whose planner does not rely on collected statistics for the
    indexed lookups powercat makes.
    """
    if session.get_bind().dialect.name != "postgresql":
        return []
    names = sorted(name for name, rows in written.items() if rows > 0)
    if not names:
        return []
    rows = bindparam("rows", [written[name] for name in names], type_=ARRAY(Integer))
    stale = (
        await session.scalars(
            text(
                "SELECT c.relname FROM unnest(:names, :rows) AS w(name, rows)"
                " JOIN pg_class AS c ON c.oid = to_regclass(w.name)"
                " LEFT JOIN pg_stat_all_tables AS s ON s.relid = c.oid"
                " WHERE pg_has_role(c.relowner, 'USAGE')"
                " AND w.rows + coalesce(s.n_mod_since_analyze, 0)"
                " > :min_rows + :growth * greatest(c.reltuples, 0)"
                " ORDER BY c.relname"
            ).bindparams(
                bindparam("names", names, type_=ARRAY(Text)),
                rows,
                min_rows=ANALYZE_MIN_ROWS,
                growth=ANALYZE_GROWTH,
            )
        )
    ).all()
    if stale:
        preparer = session.get_bind().dialect.identifier_preparer
        tables = ", ".join(preparer.quote(name) for name in stale)
        await session.execute(text(f"ANALYZE (SKIP_LOCKED) {tables}"))
    return list(stale)


def feed_order(change: FromClause, dialect_name: str) -> tuple[ColumnElement[Any], ...]:
    """The change feed's key: (transaction, position) on PostgreSQL, where ix_change_feed_order
    serves it; the position alone on SQLite, whose txid is always empty (current_txid), so the
    two keys order alike there and the primary key serves it."""
    if dialect_name == "postgresql":
        return (func.coalesce(change.c.txid, 0), change.c.id)
    return (change.c.id,)


def utf8_bytes(text_column: ColumnExpressionArgument[Any], dialect_name: str) -> ColumnElement[Any]:
    """A text column as its UTF-8 bytes: what a response is written in, without the driver
    decoding it to str only for the caller to encode it again."""
    if dialect_name == "postgresql":
        return func.convert_to(text_column, literal("UTF8"), type_=LargeBinary)
    return cast(text_column, LargeBinary)


def like_contains_pattern(term: str) -> str:
    """`%term%` for LIKE ... ESCAPE '\\', taking %, _ and \\ in the term literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _text_array(values: list[str]) -> ColumnElement[Any]:
    # One text[] parameter: the character index holds text[], and && / @> need equal types.
    return bindparam(None, values, type_=ARRAY(Text))


def _ascii_nocase_regex(term: str) -> str:
    """A PostgreSQL regex for `term` that folds ASCII letters and nothing else."""
    parts: list[str] = []
    for char in term:
        if char in string.ascii_letters:
            parts.append(f"[{char.lower()}{char.upper()}]")
        elif char.isascii() and not char.isalnum():
            # Backslash before a non-alphanumeric character means that character; never before
            # letters or digits, where it starts an escape or a back reference.
            parts.append("\\" + char)
        else:
            parts.append(char)
    return "".join(parts)


# A long term on PostgreSQL. pg_trgm asks its index for every trigram of a LIKE pattern, and
# each costs a walk of that trigram's posting tree. Item names come from a small vocabulary, so
# even a name's rarest trigram is held by thousands of items at 1M, and a 20-character term's 18
# walks took 9-17 ms there. Its disjoint 3-character pieces, in order (%p1%p2%…%), are implied by
# containing the term, select almost exactly the same rows, and cost a third of the walks; a
# strpos the index cannot serve then decides. Below this many pieces the term's own trigrams are
# few, and its pieces would lose too much of its selectivity.
MIN_TRIGRAM_PIECES = 3


def trigram_pieces(term: str) -> list[str]:
    """Disjoint 3-character runs of letters and digits of `term`, in order; the rest left out.

    In a LIKE pattern with % on both sides, each is exactly one of pg_trgm's trigrams.
    """
    pieces: list[str] = []
    run = ""
    for char in term:
        run = run + char if char.isalnum() else ""
        if len(run) == 3:
            pieces.append(run)
            run = ""
    return pieces


def text_contains(
    column: ColumnElement[str | None], term: str, dialect_name: str
) -> ColumnElement[bool]:
    """True where `column` contains `term`, ignoring the case of ASCII letters only."""
    if dialect_name == "postgresql" and any(char in string.ascii_letters for char in term):
        # ILIKE folds by the database's LC_CTYPE (Ⅲ/ⅲ, Ａ/ａ too); a case-sensitive regex with
        # [aA] classes folds ASCII alone, and pg_trgm serves it from the same index as LIKE.
        return column.regexp_match(_ascii_nocase_regex(term))
    if dialect_name == "postgresql":
        pieces = trigram_pieces(term)
        if len(pieces) >= MIN_TRIGRAM_PIECES:
            # Letters and digits only, so the pieces need no LIKE escapes. (ASCII letters took
            # the branch above: their pieces would need the regex's classes.)
            probe = column.like("%" + "%".join(pieces) + "%")
            return and_(probe, func.strpos(column, term) > 0)
    # SQLite's LIKE folds ASCII letters only; on PostgreSQL the term has no ASCII letter here.
    return column.like(like_contains_pattern(term), escape="\\")


def item_search_chars(item: FromClause) -> ColumnElement[Any]:
    """PostgreSQL: the characters of the searched fields, as ix_item_search_chars indexes them."""
    fields = [item.c[name] for name in ITEM_SEARCH_FIELDS]
    return func.item_search_chars(*fields, type_=ARRAY(Text))


def _fts5_phrase(term: str) -> str:
    # An FTS5 string: double quotes doubled, everything else literal.
    return '"' + term.replace('"', '""') + '"'


def any_field_contains(
    item: FromClause, term: str, dialect_name: str, fields: Sequence[str] = ITEM_SEARCH_FIELDS
) -> ColumnElement[bool]:
    """One of `fields` of `item` contains `term`: the condition that decides, without indexes."""
    return or_(*(text_contains(item.c[name], term, dialect_name) for name in fields))


def searched_by_characters(term: str, dialect_name: str) -> bool:
    """Whether item_search_match finds `term` through PostgreSQL's character index: a coarse
    index, whose every candidate row is rechecked by recomputing its characters."""
    return dialect_name == "postgresql" and not (
        len(term) >= 3 and any(char.isalnum() for char in term)
    )


def searched_by_trigrams(term: str, dialect_name: str) -> bool:
    """Whether PostgreSQL's trigram indexes serve `term`: the fields' own, and search_name's for
    the name (matching_names)."""
    return dialect_name == "postgresql" and not searched_by_characters(term, dialect_name)


def matching_names(term: str, dialect_name: str) -> Select[tuple[str]]:
    """PostgreSQL: the distinct names that contain `term` (through the list's trigram index when
    searched_by_trigrams, else by reading the list).

    search_name lists every name an item holds (migration 0007), so the items whose name
    contains the term are exactly the items whose name is one of these.
    """
    return (
        select(SEARCH_NAME.c.name)
        .where(text_contains(SEARCH_NAME.c.name, term, dialect_name))
        .distinct()
    )


def item_search_match(
    item: FromClause, term: str, dialect_name: str, fields: Sequence[str] = ITEM_SEARCH_FIELDS
) -> ColumnElement[bool]:
    """Rows of `item` where one of `fields` contains `term`, exactly, phrased for the indexes."""
    # Index conditions narrow the rows; the LIKE (or ASCII regex) conditions decide, so neither
    # database returns more or fewer rows than a substring scan would.
    if searched_by_trigrams(term, dialect_name):
        # One pg_trgm index per field but the name, which the btree on (name, id) serves for
        # the names that search_name's trigram index finds (an InitPlan's array, so that the
        # planner can OR it with the other fields' bitmap index scans).
        conditions = [
            item.c.name
            == func.any(func.array(matching_names(term, dialect_name).scalar_subquery()))
            if name == "name"
            else text_contains(item.c[name], term, dialect_name)
            for name in fields
        ]
        return or_(*conditions)
    contains = any_field_contains(item, term, dialect_name, fields)
    if dialect_name == "postgresql":
        # Trigrams cannot serve 1-2 characters, nor terms of punctuation alone (pg_trgm keeps
        # only letters and digits, and would read its whole index); the character index can.
        # Containing every character of the term (in either ASCII case) is exactly containing a
        # 1-character term, and narrows a longer one to the rows the LIKE conditions then check.
        chars = item_search_chars(item)
        plain = [char for char in dict.fromkeys(term) if char not in string.ascii_letters]
        letters = dict.fromkeys(char.lower() for char in term if char in string.ascii_letters)
        conditions = [chars.op("@>", is_comparison=True)(_text_array(plain))] if plain else []
        conditions += [
            chars.op("&&", is_comparison=True)(_text_array([letter, letter.upper()]))
            for letter in letters
        ]
        has_chars = and_(*conditions)
        # The index holds all five fields: a single character in one of them, `contains`.
        if len(term) == 1 and tuple(fields) == ITEM_SEARCH_FIELDS:
            return has_chars
        return and_(has_chars, contains)
    if len(term) >= 3:
        # FTS5 trigram phrases find the substring but fold all of Unicode's case (Ⅲ/ⅲ), so the
        # LIKE conditions still decide, on the few rows the index returns.
        matches = literal_column("item_fts").op("MATCH", is_comparison=True)(_fts5_phrase(term))
        return and_(item.c.id.in_(select(_ITEM_FTS.c.rowid).where(matches)), contains)
    # FTS5 trigrams cannot match fewer than 3 characters: a scan, fine at SQLite's sizes.
    return contains
