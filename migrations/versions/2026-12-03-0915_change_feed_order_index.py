"""Index the change feed's order on PostgreSQL: (coalesce(txid, 0), id).

The feed pages through changes by (transaction id, position) from a cursor. Without an index on
that key every page sorted the whole change log, with every revision snapshot joined in, before
it could return its thousand rows: at 100k changes a page took about a quarter of a second, and
more with every change. With it a page is an index range scan.

SQLite leaves txid empty (its writers are serialised, so the position alone is the commit order)
and pages by the primary key; the index exists on PostgreSQL only, and alembic's autogenerate
leaves it out by name (app/db/dialect.py), as it does the search indexes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_change_feed_order ON change ((coalesce(txid, 0)), id)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_change_feed_order")
