"""Index item (status, id): a listing of one status reads its items, not the catalogue.

GET /items?status=withdrawn walked item in id order through the primary key and dropped every
active item on the way, so while withdrawn items are few (they are withdrawn one by one, and
nothing is ever deleted) a page read the whole catalogue to find them: 1.2-2.7 s for a search of
withdrawn items at 1M items, where none were withdrawn (docs/performance.md, Search). The
btree on (status, id) gives one status's items in id order, which is the listing's order, so a
page reads the rows it returns, whichever status is the rare one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_item_status_id", "item", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_item_status_id", table_name="item")
