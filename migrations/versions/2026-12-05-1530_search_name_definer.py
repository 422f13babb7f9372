"""Let any writer of items keep the list of names: search_name_add() runs as its owner.

Migration 0007's triggers ran search_name_add() as the role whose statement fired them, so an
application role that may write items but was never granted INSERT on search_name (the list is
search's internal bookkeeping; nobody would think to grant it) had every write of an item
refused with "permission denied for table search_name". As SECURITY DEFINER the function runs
with its owner's rights, the role that ran the migrations and owns the table. It already fixes
its search_path (SET search_path FROM CURRENT), so a caller cannot slip other tables under its
names; and a trigger function can only be called by its trigger, which writes only the names the
triggering statement itself wrote.

Nothing on SQLite.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION search_name_add() SECURITY DEFINER")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION search_name_add() SECURITY INVOKER")
