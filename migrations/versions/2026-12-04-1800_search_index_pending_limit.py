"""Bound the search indexes' pending lists on PostgreSQL: gin_pending_list_limit = 1 MB.

A GIN index (fastupdate, the default) first puts new rows into a pending list, which every
search through the index reads in full, row by row, until a writer that takes the list past
gin_pending_list_limit (4 MB by default) merges it into the index; autovacuum merges it too, but
on a big table it runs after a fifth of the rows have changed. Lists of 280-460 pages, as a
bulk load leaves them, added 5-25 ms to each index a search read (most where a page holds many
short rows), and a rank past the name reads four of them. At 1 MB a list holds ~128 pages. An
import into an empty catalogue ran about as fast as at 4 MB, one into a 1M catalogue ~15 %
slower (at 10k items 512 kB cost ~10 %, 256 kB ~20 %, fastupdate off 3x; docs/performance.md):
a price paid by batch work for the searches users wait on. Imports also merge what they added
before they commit (app/db/dialect.py, settle_search_indexes).

Nothing on SQLite, whose FTS5 table has no such list.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration 0002's indexes, written out: a migration keeps the names it was written with.
INDEXES = (
    "ix_item_name_trgm",
    "ix_item_legal_basis_trgm",
    "ix_item_responsibilities_trgm",
    "ix_item_accountability_trgm",
    "ix_item_remarks_trgm",
    "ix_item_search_chars",
)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for index in INDEXES:
            op.execute(f"ALTER INDEX {index} SET (gin_pending_list_limit = 1024)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for index in INDEXES:
            op.execute(f"ALTER INDEX {index} RESET (gin_pending_list_limit)")
