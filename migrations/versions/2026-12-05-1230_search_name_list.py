"""List item names for search on PostgreSQL: a table of the distinct names, and item (name, id).

A search's first rank is the items whose name holds the term. Through a trigram index on
item.name, every candidate row was rechecked in item's heap, and item rows are wide (five to a
page, with their long text): a whole name that 1,754 of 1M items hold read ~2,700 heap pages to
return a first page of 20, 12-25 ms warm and 250 ms cold (docs/performance.md, Search). Names
repeat across divisions (the same standard item in every county), so the name index now works
on the distinct names instead: search_name holds each name once or a few times, with the trigram
index, and item gets a btree on (name, id), which gives the items of one name in id order, so a
page reads only the rows it returns (app/services/search.py). ix_item_name_trgm goes: nothing
else searched item.name through it.

search_name is kept in step by statement triggers on item, in the writer's transaction: every
name an INSERT or UPDATE leaves on item is added unless it is there already. It only grows (a
name no item holds any more finds no items), and it has no unique key on purpose: two writers
adding the same new name at once each add it, where a unique key would make the second wait for
the first to commit, and two imports adding each other's new names in turn deadlock. Searches
take its names DISTINCT.

Nothing on SQLite, whose FTS5 table searches the names already.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 12:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADD_NAMES = """
    CREATE FUNCTION search_name_add() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
    BEGIN
        INSERT INTO search_name (name)
        SELECT DISTINCT w.name FROM written AS w
        WHERE NOT EXISTS (SELECT FROM search_name AS s WHERE s.name = w.name);
        RETURN NULL;
    END
    $$
"""
TRIGGERS = ("item_search_name_insert", "item_search_name_update")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE search_name ("
        " id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_search_name PRIMARY KEY,"
        " name text NOT NULL)"
    )
    op.execute("INSERT INTO search_name (name) SELECT DISTINCT name FROM item ORDER BY name")
    # Statistics for the planner from the start: autovacuum may be off, or far behind.
    op.execute("ANALYZE search_name")
    op.execute("CREATE INDEX ix_search_name_name ON search_name (name)")
    # The pending-list limit of migration 0006, for the same reason.
    op.execute(
        "CREATE INDEX ix_search_name_trgm ON search_name USING gin (name gin_trgm_ops)"
        " WITH (gin_pending_list_limit = 1024)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_item_name_id ON item (name, id)")
    op.execute("DROP INDEX IF EXISTS ix_item_name_trgm")
    op.execute(ADD_NAMES)
    for name, event in zip(TRIGGERS, ("INSERT", "UPDATE"), strict=True):
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON item REFERENCING NEW TABLE AS written"
            " FOR EACH STATEMENT EXECUTE FUNCTION search_name_add()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON item")
    op.execute("DROP FUNCTION IF EXISTS search_name_add()")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_item_name_trgm ON item USING gin (name gin_trgm_ops)"
        " WITH (gin_pending_list_limit = 1024)"
    )
    op.execute("DROP INDEX IF EXISTS ix_item_name_id")
    op.execute("DROP TABLE IF EXISTS search_name")
