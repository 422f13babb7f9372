"""Initial catalogue schema: agencies, power types, items with revisions and change log,
releases, validation runs, import batches, API keys and audit entries.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 22:17:47.401725
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text elsewhere (the models' JSONDoc, written out: revisions stay static).
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# The standard power types of GB/T 39046-2020 A.1 (app/data/power-types.csv at this revision).
POWER_TYPES = [
    ("00", "行政权力事项", "GB/T 39046-2020 A.1", "umbrella category; not a type of a single item"),
    ("01", "行政许可", "GB/T 39046-2020 A.1", None),
    ("02", "行政处罚", "GB/T 39046-2020 A.1", None),
    ("03", "行政强制", "GB/T 39046-2020 A.1", None),
    ("04", "行政征收", "GB/T 39046-2020 A.1", None),
    ("05", "行政给付", "GB/T 39046-2020 A.1", None),
    (
        "06",
        "行政检查",
        "GB/T 39046-2020 A.1",
        "local lists may label inspection items 行政监督 (non-standard); map to 06 and keep the raw label",
    ),
    ("07", "行政确认", "GB/T 39046-2020 A.1", None),
    ("08", "行政奖励", "GB/T 39046-2020 A.1", None),
    ("09", "行政裁决", "GB/T 39046-2020 A.1", None),
    (
        "10",
        "其他行政权力",
        "GB/T 39046-2020 A.1",
        "GB/T 39046 calls it 其他类别事项; 行政备案 (newer, no own code) maps here keeping the raw label",
    ),
    (
        "20",
        "公共服务",
        "GB/T 39046-2020 A.1",
        "public service items; main-item sequence may contain letters (never I O Z S V)",
    ),
]


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("division_code", sa.String(length=6), nullable=True),
        sa.Column("level", sa.String(length=1), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("name", name=op.f("uq_agency_name")),
    )
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_credit_code"), ["credit_code"], unique=False)

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "read",
                "write",
                "admin",
                name="scope",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    op.create_table(
        "power_type",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("notes", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_power_type")),
        sa.UniqueConstraint("label", name=op.f("uq_power_type_label")),
    )
    power_type = sa.table(
        "power_type",
        sa.column("code", sa.String),
        sa.column("label", sa.String),
        sa.column("source", sa.String),
        sa.column("notes", sa.String),
    )
    op.bulk_insert(
        power_type,
        [dict(zip(("code", "label", "source", "notes"), row, strict=True)) for row in POWER_TYPES],
    )
    op.create_table(
        "release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("is_forced", sa.Boolean(), nullable=False),
        sa.Column("force_reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release")),
        sa.UniqueConstraint("name", name=op.f("uq_release_name")),
    )
    op.create_table(
        "api_key_agency",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_api_key_agency_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_api_key_agency_api_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "agency_id", name=op.f("pk_api_key_agency")),
    )
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("change", JSON_DOC, nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_audit_entry_api_key_id_api_key"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_at"), ["at"], unique=False)

    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "succeeded",
                "failed",
                "dry_run",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("is_dry_run", sa.Boolean(), nullable=False),
        sa.Column("counts", JSON_DOC, nullable=False),
        sa.Column("report", JSON_DOC, nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_import_batch_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batch")),
    )
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_batch_sha256"), ["sha256"], unique=False)

    op.create_table(
        "validation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("counts", JSON_DOC, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_validation_run_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_run")),
    )
    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("sub_item_name", sa.String(length=500), nullable=True),
        sa.Column("power_type_code", sa.String(length=2), nullable=True),
        sa.Column("power_type_raw", sa.String(length=100), nullable=True),
        sa.Column("local_code", sa.String(length=33), nullable=True),
        sa.Column("sub_local_code", sa.String(length=33), nullable=True),
        sa.Column("exercising_body", sa.String(length=500), nullable=True),
        sa.Column("handling_unit", sa.String(length=500), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("legal_citations", JSON_DOC, nullable=False),
        sa.Column("responsibilities", sa.Text(), nullable=True),
        sa.Column("accountability", sa.Text(), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "withdrawn",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_file", sa.String(length=255), nullable=True),
        sa.Column("source_line", sa.Integer(), nullable=True),
        sa.Column("source_line_end", sa.Integer(), nullable=True),
        sa.Column("source_page", sa.Integer(), nullable=True),
        sa.Column("source_raw", JSON_DOC, nullable=True),
        sa.Column("import_key", sa.String(length=200), nullable=True),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_item_agency_id_agency"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_item_import_batch_id_import_batch"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["power_type_code"],
            ["power_type.code"],
            name=op.f("fk_item_power_type_code_power_type"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index("ix_item_agency_id_seq", ["agency_id", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_import_key"), ["import_key"], unique=False)
        batch_op.create_index(
            "ix_item_local_code_sub_local_code", ["local_code", "sub_local_code"], unique=False
        )
        batch_op.create_index("ix_item_updated_at_id", ["updated_at", "id"], unique=False)

    op.create_table(
        "validation_issue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "error",
                "warning",
                "info",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("item_ids", JSON_DOC, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("details", JSON_DOC, nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_validation_issue_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["validation_run.id"],
            name=op.f("fk_validation_issue_run_id_validation_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_issue")),
    )
    with op.batch_alter_table("validation_issue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_validation_issue_fingerprint"), ["fingerprint"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_validation_issue_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_validation_issue_run_id"), ["run_id"], unique=False)

    op.create_table(
        "item_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "create",
                "update",
                "withdraw",
                "restore",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("snapshot", JSON_DOC, nullable=False),
        sa.Column("changed_fields", JSON_DOC, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_item_revision_import_batch_id_import_batch"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["item.id"],
            name=op.f("fk_item_revision_item_id_item"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_revision")),
        sa.UniqueConstraint("item_id", "version", name=op.f("uq_item_revision_item_id_version")),
    )
    with op.batch_alter_table("item_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_revision_item_id"), ["item_id"], unique=False)

    op.create_table(
        "change",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "create",
                "update",
                "withdraw",
                "restore",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_change_item_id_item"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["item_revision.id"],
            name=op.f("fk_change_revision_id_item_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change")),
    )
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_change_item_id"), ["item_id"], unique=False)

    op.create_table(
        "release_item",
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_release_item_item_id_item"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["release.id"],
            name=op.f("fk_release_item_release_id_release"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["item_revision.id"],
            name=op.f("fk_release_item_revision_id_item_revision"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("release_id", "item_id", name=op.f("pk_release_item")),
    )
    with op.batch_alter_table("release_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_item_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("release_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_item_item_id"))

    op.drop_table("release_item")
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_item_id"))

    op.drop_table("change")
    with op.batch_alter_table("item_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_revision_item_id"))

    op.drop_table("item_revision")
    with op.batch_alter_table("validation_issue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_issue_run_id"))
        batch_op.drop_index(batch_op.f("ix_validation_issue_rule"))
        batch_op.drop_index(batch_op.f("ix_validation_issue_fingerprint"))

    op.drop_table("validation_issue")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_updated_at_id")
        batch_op.drop_index("ix_item_local_code_sub_local_code")
        batch_op.drop_index(batch_op.f("ix_item_import_key"))
        batch_op.drop_index("ix_item_agency_id_seq")

    op.drop_table("item")
    op.drop_table("validation_run")
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batch_sha256"))

    op.drop_table("import_batch")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_at"))

    op.drop_table("audit_entry")
    op.drop_table("api_key_agency")
    op.drop_table("release")
    op.drop_table("power_type")
    op.drop_table("api_key")
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_credit_code"))

    op.drop_table("agency")
