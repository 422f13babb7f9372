"""Add item search: pg_trgm and character indexes on PostgreSQL, an FTS5 trigram table on SQLite.

The search filter `q` (app/services/search.py, predicates in app/db/dialect.py) looks for a term in
name, legal_basis, responsibilities, accountability and remarks.

PostgreSQL: one GIN trigram index per field serves terms of 3+ characters; trigrams cannot serve
1-2 characters (or punctuation alone), so a GIN index on the array of the characters of the five
fields does (an expression index over an immutable function: nothing stored in item, nothing to
keep in sync).

SQLite: an external-content FTS5 table with the trigram tokenizer, kept in step with item by
triggers, serves terms of 3+ characters; shorter terms are a LIKE scan.

Later migrations that recreate `item` on SQLite (batch_alter_table with recreate) drop its triggers
and must create them again; tests/integration/test_search.py checks they exist at head.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The searched fields, in the order of the character index expression and of the FTS5 columns.
FIELDS = ("name", "legal_basis", "responsibilities", "accountability", "remarks")

# The characters of the five fields, for the GIN index that serves 1-2 character terms. A
# function, not a bare expression, for its COST: splitting a few thousand characters is dear, and
# at the default cost of 1 the planner prefers recomputing it for every row of a sequential scan
# over using the index (measured: 950 ms against under 70 ms on 7,400 rows, for a character in
# 99% of them). The SET clause keeps the planner from inlining the body, which would drop that
# cost, and pins name lookup. app/db/dialect.py item_search_chars() calls it with the same
# arguments.
CHARS_PARAMETERS = ", ".join(f"{field} text" for field in FIELDS)
CHARS_BODY = " || ".join(f"COALESCE(${n}, '')" for n in range(1, len(FIELDS) + 1))
CHARS_FUNCTION = f"""
    CREATE FUNCTION item_search_chars({CHARS_PARAMETERS})
    RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 1000
    SET search_path = pg_catalog
    AS $$ SELECT string_to_array({CHARS_BODY}, NULL) $$
"""
CHARS_INDEX = f"""
    CREATE INDEX IF NOT EXISTS ix_item_search_chars ON item
    USING gin (item_search_chars({", ".join(FIELDS)}))
"""

FTS_TABLE = "item_fts"
FTS_COLUMNS = ", ".join(FIELDS)
NEW_VALUES = ", ".join(f"new.{field}" for field in FIELDS)
OLD_VALUES = ", ".join(f"old.{field}" for field in FIELDS)

SQLITE_TRIGGERS = {
    "item_fts_after_insert": f"""
        CREATE TRIGGER item_fts_after_insert AFTER INSERT ON item BEGIN
            INSERT INTO {FTS_TABLE} (rowid, {FTS_COLUMNS}) VALUES (new.id, {NEW_VALUES});
        END
    """,
    # An external-content table must be told the old values to remove them from the index.
    "item_fts_after_delete": f"""
        CREATE TRIGGER item_fts_after_delete AFTER DELETE ON item BEGIN
            INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {FTS_COLUMNS})
            VALUES ('delete', old.id, {OLD_VALUES});
        END
    """,
    # Only updates that touch a searched field (or the id) re-index the row.
    "item_fts_after_update": f"""
        CREATE TRIGGER item_fts_after_update AFTER UPDATE OF id, {FTS_COLUMNS} ON item BEGIN
            INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {FTS_COLUMNS})
            VALUES ('delete', old.id, {OLD_VALUES});
            INSERT INTO {FTS_TABLE} (rowid, {FTS_COLUMNS}) VALUES (new.id, {NEW_VALUES});
        END
    """,
}


def _check_postgresql_text_support() -> None:
    bind = op.get_bind()
    encoding = bind.exec_driver_sql("SHOW server_encoding").scalar()
    if encoding != "UTF8":
        raise RuntimeError(
            f"item search needs a UTF8 database, this one is {encoding}: "
            "recreate it with ENCODING 'UTF8'"
        )
    # pg_trgm only makes trigrams of characters the database's LC_CTYPE calls alphanumeric; under
    # LC_CTYPE 'C' Chinese has none, and every search would read the whole index.
    if not bind.exec_driver_sql("SELECT cardinality(show_trgm('权力事项')) > 0").scalar():
        raise RuntimeError(
            "pg_trgm sees no trigrams in Chinese text under this database's LC_CTYPE: "
            "recreate it with a UTF-8 LC_CTYPE such as 'C.UTF-8' or 'zh_CN.UTF-8'"
        )


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        # The test database user is a superuser; in production pg_trgm must be available
        # (contrib package installed) and, as a trusted extension since PostgreSQL 13, the
        # migrating role needs CREATE on the database, or a DBA creates it beforehand.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        _check_postgresql_text_support()
        # Plain CREATE INDEX blocks writes to item while it builds; on a large live table a DBA
        # can create these CONCURRENTLY before running the migration (IF NOT EXISTS skips them).
        for field in FIELDS:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_item_{field}_trgm ON item "
                f"USING gin ({field} gin_trgm_ops)"
            )
        op.execute(CHARS_FUNCTION)
        op.execute(CHARS_INDEX)
    else:  # SQLite, the only other backend (app/db/engine.py)
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
            f"{FTS_COLUMNS}, content='item', content_rowid='id', tokenize='trigram')"
        )
        for ddl in SQLITE_TRIGGERS.values():
            op.execute(ddl)
        # Index the rows that exist already.
        op.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_item_search_chars")
        op.execute(
            f"DROP FUNCTION IF EXISTS item_search_chars({', '.join(['text'] * len(FIELDS))})"
        )
        for field in reversed(FIELDS):
            op.execute(f"DROP INDEX IF EXISTS ix_item_{field}_trgm")
        # pg_trgm stays: CREATE EXTENSION IF NOT EXISTS may have found it installed by a DBA,
        # and other objects may use it.
    else:
        for name in reversed(SQLITE_TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        # Dropping the virtual table drops its shadow tables too.
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
