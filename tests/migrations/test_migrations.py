"""The migration chain: one head, reversible with data present, and in step with the models."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.db import migrations
from app.db.dialect import autogenerate_include_name
from app.db.engine import create_engine
from app.models import Base
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _run(url: str, fn: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _insert_rows(conn: Connection) -> None:
    now = datetime.now(UTC)
    conn.execute(
        text(
            "INSERT INTO agency (id, name, credit_code, division_code, level, created_at, "
            "updated_at) VALUES (1, '民勤县医疗保障局', '11620621MB1765558', '620621', '4', :n, :n)"
        ),
        {"n": now},
    )
    conn.execute(
        text(
            "INSERT INTO item (id, agency_id, name, power_type_code, local_code, legal_citations, "
            "status, version, created_at, updated_at) VALUES (1, 1, '对骗取医保基金支出的处罚', "
            "'02', '11620621MB176555834620236001000', '[]', 'active', 1, :n, :n)"
        ),
        {"n": now},
    )


def _count_items(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM item")).scalar_one())


def _diff(conn: Connection) -> list[Any]:
    return list(
        compare_metadata(
            MigrationContext.configure(
                conn,
                # The filter env.py uses: migration 0002's single-database search objects.
                opts={"compare_type": True, "include_name": autogenerate_include_name},
            ),
            Base.metadata,
        )
    )


class TestMigrations:
    def test_single_head(self) -> None:
        script = ScriptDirectory.from_config(migrations.alembic_config())
        assert len(script.get_heads()) == 1

    def test_revision_files_do_not_import_app_models(self) -> None:
        for path in (ROOT / "migrations" / "versions").glob("*.py"):
            assert "app.models" not in path.read_text(encoding="utf-8"), path.name

    def test_upgrade_downgrade_upgrade_with_rows_present(self, empty_url: str) -> None:
        migrations.upgrade(empty_url)
        _run(empty_url, _insert_rows)
        assert _run(empty_url, _count_items) == 1
        migrations.downgrade(empty_url, "base")
        migrations.upgrade(empty_url)
        assert _run(empty_url, _count_items) == 0

    def test_models_and_migrations_agree(self, empty_url: str) -> None:
        migrations.upgrade(empty_url)
        assert _run(empty_url, _diff) == []

    def test_power_types_match_the_reference_table(self, empty_url: str) -> None:
        migrations.upgrade(empty_url)
        rows = _run(
            empty_url,
            lambda c: sorted(
                tuple(r) for r in c.execute(text("SELECT code, label FROM power_type"))
            ),
        )
        with (ROOT / "app" / "data" / "power-types.csv").open(encoding="utf-8") as f:
            expected = sorted((r["code"], r["label"]) for r in csv.DictReader(f))
        assert rows == expected
