"""`powercat keys`: a token is printed once and stored only as its hash; revoked keys show so."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.db.engine import create_engine, create_sessionmaker
from app.models import ApiKey, AuditEntry
from app.services import keys
from app.settings import Settings
from tests.cli.test_cli import run
from tests.factories import MINQIN

MINQIN_AGENCY = "民勤县医疗保障局"


@pytest.fixture
def migrated(empty_url: str) -> dict[str, str]:
    env = {"POWERCAT_DATABASE_URL": empty_url}
    assert run("db", "upgrade", env=env).returncode == 0
    return env


def _stored_keys(url: str) -> list[tuple[str, str, str]]:
    async def go() -> list[tuple[str, str, str]]:
        engine = create_engine(Settings(database_url=url))
        try:
            async with create_sessionmaker(engine)() as session:
                rows = await session.execute(select(ApiKey.name, ApiKey.prefix, ApiKey.key_hash))
                return [(r.name, r.prefix, r.key_hash) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _audit(url: str) -> list[AuditEntry]:
    async def go() -> list[AuditEntry]:
        engine = create_engine(Settings(database_url=url))
        try:
            async with create_sessionmaker(engine)() as session:
                return list(
                    (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
                )
        finally:
            await engine.dispose()

    return asyncio.run(go())


class TestKeysCommand:
    def test_token_shown_once_and_stored_as_hash(self, migrated: dict[str, str]) -> None:
        made = run("keys", "create", "--name", "sync-bot", "--scope", "admin", env=migrated)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert len(token) >= 32
        assert "\n" not in token
        assert "shown only now" in made.stderr

        [(name, prefix, key_hash)] = _stored_keys(migrated["POWERCAT_DATABASE_URL"])
        assert name == "sync-bot"
        assert token.startswith(prefix)
        assert key_hash == keys.hash_token(token)
        assert token not in key_hash

        listed = run("keys", "list", env=migrated)
        assert listed.returncode == 0, listed.stderr
        assert token not in listed.stdout + listed.stderr
        [line] = listed.stdout.splitlines()
        fields = line.split("\t")
        assert fields[1] == f"{prefix}…"
        assert fields[2:4] == ["admin", "sync-bot"]
        assert fields[-1] == "active"

    def test_revoked_key_is_listed_as_revoked(self, migrated: dict[str, str]) -> None:
        assert (
            run("keys", "create", "--name", "old", "--scope", "read", env=migrated).returncode == 0
        )
        key_id = run("keys", "list", env=migrated).stdout.split("\t", 1)[0]
        revoked = run("keys", "revoke", key_id, env=migrated)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == f"key {key_id} revoked"
        [line] = run("keys", "list", env=migrated).stdout.splitlines()
        assert line.split("\t")[-1].startswith("revoked ")

    def test_without_a_scope_a_key_writes_its_agencies_or_else_reads(
        self, migrated: dict[str, str]
    ) -> None:
        reader = run("keys", "create", "--name", "reader", env=migrated)
        assert reader.returncode == 0, reader.stderr
        assert "(read)" in reader.stderr
        assert run("import", str(MINQIN), env=migrated).returncode == 0
        writer = run("keys", "create", "--name", "w", "--agency", MINQIN_AGENCY, env=migrated)
        assert writer.returncode == 0, writer.stderr
        assert f"(write: {MINQIN_AGENCY})" in writer.stderr
        listed = [
            line.split("\t")[2:4] for line in run("keys", "list", env=migrated).stdout.splitlines()
        ]
        assert listed == [["read", "reader"], ["write", "w"]]

    def test_bad_requests_are_one_line_errors(self, migrated: dict[str, str]) -> None:
        bad_scope = run("keys", "create", "--name", "x", "--scope", "root", env=migrated)
        assert bad_scope.returncode == 2
        assert bad_scope.stderr.strip().splitlines() == [
            "powercat: error: unknown scope 'root': use read, write or admin"
        ]
        no_agency = run("keys", "create", "--name", "x", "--scope", "write", env=migrated)
        assert no_agency.returncode != 0
        assert no_agency.stderr.strip().splitlines() == [
            "powercat: error: a write key needs at least one --agency (or use --scope admin)"
        ]
        assert no_agency.stdout == ""
        unknown = run("keys", "revoke", "999", env=migrated)
        assert unknown.returncode != 0
        assert len(unknown.stderr.strip().splitlines()) == 1
        assert "Traceback" not in unknown.stderr
        assert _stored_keys(migrated["POWERCAT_DATABASE_URL"]) == []

    def test_create_and_revoke_are_audited(self, migrated: dict[str, str]) -> None:
        url = migrated["POWERCAT_DATABASE_URL"]
        made = run(
            "keys",
            "create",
            "--name",
            "ops",
            "--scope",
            "admin",
            "--reason",
            "值班交接",
            env=migrated,
        )
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        [(_, prefix, key_hash)] = _stored_keys(url)
        key_id = run("keys", "list", env=migrated).stdout.split("\t", 1)[0]
        assert run("keys", "revoke", key_id, "--reason", "人员离岗", env=migrated).returncode == 0
        # Revoking again changes nothing, so records nothing.
        assert run("keys", "revoke", key_id, env=migrated).returncode == 0

        created, revoked = _audit(url)
        assert (created.action, created.target_type, created.target_id) == (
            "api_key.create",
            "api_key",
            key_id,
        )
        assert created.reason == "值班交接"
        assert created.actor.startswith("cli")
        assert created.api_key_id is None  # the command line acts with no key
        assert created.change == {"name": "ops", "prefix": prefix, "scope": "admin", "agencies": []}
        assert (revoked.action, revoked.target_id, revoked.reason) == (
            "api_key.revoke",
            key_id,
            "人员离岗",
        )
        assert revoked.change is not None
        assert revoked.change["revoked_at"]
        for entry in (created, revoked):
            assert token not in repr(entry.change)
            assert key_hash not in repr(entry.change)
            assert entry.at is not None

    def test_refused_create_is_not_audited(self, migrated: dict[str, str]) -> None:
        bad = run(
            "keys", "create", "--name", "x", "--agency", "不存在的局", "--reason", "r", env=migrated
        )
        assert bad.returncode != 0
        assert run("keys", "revoke", "42", "--reason", "r", env=migrated).returncode != 0
        assert _stored_keys(migrated["POWERCAT_DATABASE_URL"]) == []
        assert _audit(migrated["POWERCAT_DATABASE_URL"]) == []
