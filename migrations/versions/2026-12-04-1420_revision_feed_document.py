"""Keep each revision's Item JSON for the change feed: item_revision.document.

A consumer catching up on the feed reads pages of 1,000 changes, each with the item as it was
after the change. Built from the revision's snapshot on every read (decode the JSON, shape the
Item, write it again), a page cost the server twice what the database's read of its rows did.
The revision now keeps that Item as the feed writes it, the agency left null (the feed puts in
the agency as it is now); the feed splices the text into its page.

Existing revisions are left without one (item_revision is append-only, see 0003): the feed
builds theirs from the snapshot, as before. The column costs about as much again as the
snapshot, compressed alike by PostgreSQL's TOAST.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("item_revision", sa.Column("document", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("item_revision", "document")
