"""Make the history append-only in the database: revisions, changes and audit entries.

The services only ever insert into item_revision, change and audit_entry; these triggers make any
UPDATE or DELETE of them fail, whoever sends it (a bug, a script, a hand-typed statement), so
"every change writes an append-only revision" holds below the application too.

Later migrations that recreate one of these tables on SQLite (batch_alter_table with recreate)
drop its triggers and must create them again; tests/integration/test_append_only.py checks
that they hold at head.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("item_revision", "change", "audit_entry")

PG_FUNCTION = """
    CREATE FUNCTION powercat_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION powercat_append_only()"
            )
        return
    for table in TABLES:  # SQLite, the only other backend (app/db/engine.py)
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f'CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON "{table}" '
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {event} refused'); END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
        op.execute("DROP FUNCTION IF EXISTS powercat_append_only()")
        return
    for table in TABLES:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
