"""Releases: frozen snapshots, refused on validation errors unless forced, and their diffs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pydantic
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ItemStatus
from app.errors import (
    InvalidInputError,
    ItemNotFoundError,
    ReleaseBlockedError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    ReleaseRaceError,
    ReleaseReasonRequiredError,
)
from app.models import Agency, AuditEntry, ItemRevision, ReleaseItem
from app.schemas.items import ItemUpdate
from app.schemas.releases import ReleaseCreate, ReleaseRead
from app.services import items, releases
from app.services.revisions import Actor
from app.services.validation import runner
from tests.factories import MINQIN, import_file
from tests.integration.test_exports import EDGE_AGENCY, edge_item

ACTOR = Actor("test")


@dataclass(frozen=True)
class FakeIssue:
    severity: str


def issues(*severities: str) -> releases.Evaluator:
    """A stand-in for the validation service that reports the given severities."""

    async def evaluate(_session: AsyncSession) -> Sequence[FakeIssue]:
        return [FakeIssue(s) for s in severities]

    return evaluate


async def clean_catalogue(session: AsyncSession, count: int = 3) -> list[int]:
    """Items with every required field and no code: warnings at most, never an error."""
    agency = Agency(name=EDGE_AGENCY)
    session.add(agency)
    await session.flush()
    return [
        (await items.create(session, data=edge_item(agency.id, seq=n), actor=ACTOR)).id
        for n in range(1, count + 1)
    ]


async def release(session: AsyncSession, name: str) -> ReleaseRead:
    """A release of a catalogue the validator is told is clean."""
    return await releases.create(
        session, data=ReleaseCreate(name=name), actor=ACTOR, evaluate=issues()
    )


class TestCreate:
    async def test_records_the_current_revision_of_every_item(self, session: AsyncSession) -> None:
        ids = await clean_catalogue(session)
        await items.set_status(
            session, item_id=ids[2], expected_version=1, status=ItemStatus.WITHDRAWN, actor=ACTOR
        )
        created = await releases.create(
            session, data=ReleaseCreate(name="2026-11", note="首次发布"), actor=ACTOR
        )
        assert (created.name, created.note, created.item_count) == ("2026-11", "首次发布", 3)
        assert (created.is_forced, created.force_reason, created.created_by) == (
            False,
            None,
            "test",
        )
        rows = (
            await session.execute(
                select(ReleaseItem.item_id, ReleaseItem.version, ItemRevision.version)
                .join(ItemRevision, ItemRevision.id == ReleaseItem.revision_id)
                .order_by(ReleaseItem.item_id)
            )
        ).all()
        assert rows == [(ids[0], 1, 1), (ids[1], 1, 1), (ids[2], 2, 2)]
        assert await releases.get(session, name="2026-11") == created
        assert await releases.list_releases(session) == [created]

    async def test_a_name_is_taken_once(self, session: AsyncSession) -> None:
        await clean_catalogue(session)
        await release(session, "v1")
        with pytest.raises(ReleaseExistsError):
            await release(session, "v1")

    @pytest.mark.parametrize("name", ["current", "Current"])
    async def test_current_is_reserved(self, session: AsyncSession, name: str) -> None:
        with pytest.raises(InvalidInputError):
            await release(session, name)

    async def test_real_validation_errors_block_with_counts(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)  # items 4, 5 and 6 share one code: an error
        expected = runner.counts(await runner.evaluate(session))
        assert expected.error > 0
        with pytest.raises(ReleaseBlockedError) as caught:
            await releases.create(session, data=ReleaseCreate(name="v1"), actor=ACTOR)
        assert caught.value.details["counts"] == expected.model_dump()
        assert await releases.find(session, name="v1") is None

    async def test_force_needs_a_reason_and_records_it(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        for reason in (None, "  "):
            with pytest.raises(pydantic.ValidationError):
                ReleaseCreate(name="v1", force=True, reason=reason)
            # The service holds the rule too, for callers that build the request otherwise.
            unchecked = ReleaseCreate.model_construct(
                name="v1", note=None, force=True, reason=reason
            )
            with pytest.raises(ReleaseReasonRequiredError):
                await releases.create(session, data=unchecked, actor=ACTOR)
        created = await releases.create(
            session,
            data=ReleaseCreate(name="v1", force=True, reason="重复编码已报部门核实"),
            actor=ACTOR,
        )
        assert (created.is_forced, created.force_reason) == (True, "重复编码已报部门核实")
        assert created.item_count == 9
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "release.create")
        )
        assert entry is not None
        assert (entry.target_id, entry.reason, entry.actor) == (
            "v1",
            "重复编码已报部门核实",
            "test",
        )
        assert entry.change is not None
        assert entry.change["is_forced"] is True

    async def test_audit_takes_the_actors_reason_when_the_body_has_none(
        self, session: AsyncSession
    ) -> None:
        await clean_catalogue(session)
        await releases.create(
            session,
            data=ReleaseCreate(name="v1"),
            actor=Actor("api", reason="月度发布"),
            evaluate=issues(),
        )
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "release.create")
        )
        assert entry is not None
        assert (entry.reason, entry.actor) == ("月度发布", "api")

    async def test_warnings_do_not_block_and_force_without_errors_is_not_forced(
        self, session: AsyncSession
    ) -> None:
        await clean_catalogue(session)
        created = await releases.create(
            session,
            data=ReleaseCreate(name="v1", force=True, reason="以防万一"),
            actor=ACTOR,
            evaluate=issues("warning", "info"),
        )
        assert (created.is_forced, created.force_reason) == (False, None)

    async def test_blocked_counts_every_severity(self, session: AsyncSession) -> None:
        await clean_catalogue(session)
        with pytest.raises(ReleaseBlockedError) as caught:
            await releases.create(
                session,
                data=ReleaseCreate(name="v1"),
                actor=ACTOR,
                evaluate=issues("error", "error", "warning"),
            )
        assert caught.value.code == "release.blocked"
        assert caught.value.details == {"counts": {"error": 2, "warning": 1, "info": 0}}

    async def test_a_write_between_snapshot_and_check_is_refused(
        self, session: AsyncSession
    ) -> None:
        ids = await clean_catalogue(session)

        # What a concurrent PostgreSQL writer does to a READ COMMITTED transaction.
        async def evaluate_while_someone_writes(s: AsyncSession) -> Sequence[FakeIssue]:
            await items.update(
                s, item_id=ids[0], expected_version=1, data=ItemUpdate(remarks="新"), actor=ACTOR
            )
            return []

        with pytest.raises(ReleaseRaceError):
            await releases.create(
                session,
                data=ReleaseCreate(name="v1"),
                actor=ACTOR,
                evaluate=evaluate_while_someone_writes,
            )


class TestItemInRelease:
    async def test_item_as_released_not_as_now(self, session: AsyncSession) -> None:
        ids = await clean_catalogue(session)
        await release(session, "v1")
        await items.update(
            session,
            item_id=ids[0],
            expected_version=1,
            data=ItemUpdate(name="发布后改名"),
            actor=ACTOR,
        )
        released = await releases.get_item_in_release(session, release_name="v1", item_id=ids[0])
        now = await items.get(session, item_id=ids[0])
        assert (released.name, released.version) == ("测试事项", 1)
        assert (now.name, now.version) == ("发布后改名", 2)
        assert released.agency == now.agency

    async def test_unknown_release_and_later_item_are_404s(self, session: AsyncSession) -> None:
        ids = await clean_catalogue(session, 1)
        await release(session, "v1")
        agency_id = await session.scalar(select(Agency.id).where(Agency.name == EDGE_AGENCY))
        assert agency_id is not None
        later = await items.create(session, data=edge_item(agency_id, seq=7), actor=ACTOR)
        with pytest.raises(ReleaseNotFoundError):
            await releases.get_item_in_release(session, release_name="v9", item_id=ids[0])
        with pytest.raises(ItemNotFoundError):
            await releases.get_item_in_release(session, release_name="v1", item_id=later.id)


class TestDiff:
    async def _two_releases(self, session: AsyncSession) -> dict[str, int]:
        ids = await clean_catalogue(session, 5)
        await release(session, "v1")
        agency_id = await session.scalar(select(Agency.id).where(Agency.name == EDGE_AGENCY))
        assert agency_id is not None
        added = await items.create(
            session, data=edge_item(agency_id, seq=9, name="新事项"), actor=ACTOR
        )
        await items.update(
            session,
            item_id=ids[0],
            expected_version=1,
            data=ItemUpdate(name="改名", remarks="备注"),
            actor=ACTOR,
        )
        await items.set_status(
            session, item_id=ids[1], expected_version=1, status=ItemStatus.WITHDRAWN, actor=ACTOR
        )
        # Withdrawn and restored: a new version, the same content, so no change to report.
        await items.set_status(
            session, item_id=ids[2], expected_version=1, status=ItemStatus.WITHDRAWN, actor=ACTOR
        )
        await items.set_status(
            session, item_id=ids[2], expected_version=2, status=ItemStatus.ACTIVE, actor=ACTOR
        )
        return {"changed": ids[0], "withdrawn": ids[1], "bounced": ids[2], "added": added.id}

    async def test_release_against_current(self, session: AsyncSession) -> None:
        ids = await self._two_releases(session)
        d = await releases.diff(session, base="v1", target="current")
        assert (d.base, d.target) == ("v1", "current")
        assert [r.id for r in d.added] == [ids["added"]]
        assert d.added[0].name == "新事项"
        assert [r.id for r in d.withdrawn] == [ids["withdrawn"]]
        assert d.withdrawn[0].version == 1
        assert [c.id for c in d.changed] == [ids["changed"]]
        change = d.changed[0]
        assert (change.from_version, change.to_version) == (1, 2)
        assert {(f.field, f.before, f.after) for f in change.changes} == {
            ("name", "测试事项", "改名"),
            ("remarks", None, "备注"),
        }
        assert d.counts.model_dump() == {"added": 1, "changed": 1, "withdrawn": 1}

    async def test_two_releases_and_the_reverse(self, session: AsyncSession) -> None:
        ids = await self._two_releases(session)
        await release(session, "v2")
        forward = await releases.diff(session, base="v1", target="v2")
        assert forward == (await releases.diff(session, base="v1", target="current")).model_copy(
            update={"target": "v2"}
        )
        backward = await releases.diff(session, base="v2", target="v1")
        assert [r.id for r in backward.added] == [ids["withdrawn"]]
        assert [r.id for r in backward.withdrawn] == [ids["added"]]
        assert [(f.field, f.after) for f in backward.changed[0].changes] == [
            ("name", "测试事项"),
            ("remarks", None),
        ]

    async def test_release_against_itself_and_an_unchanged_catalogue_is_empty(
        self, session: AsyncSession
    ) -> None:
        await clean_catalogue(session)
        await release(session, "v1")
        for target in ("v1", "current"):
            d = await releases.diff(session, base="v1", target=target)
            assert (d.added, d.changed, d.withdrawn) == ([], [], [])

    async def test_withdrawn_item_restored_after_release_counts_as_added(
        self, session: AsyncSession
    ) -> None:
        ids = await clean_catalogue(session, 2)
        await items.set_status(
            session, item_id=ids[1], expected_version=1, status=ItemStatus.WITHDRAWN, actor=ACTOR
        )
        await release(session, "v1")
        await items.set_status(
            session, item_id=ids[1], expected_version=2, status=ItemStatus.ACTIVE, actor=ACTOR
        )
        d = await releases.diff(session, base="v1", target="current")
        assert [r.id for r in d.added] == [ids[1]]

    async def test_unknown_release_is_not_found(self, session: AsyncSession) -> None:
        await clean_catalogue(session, 1)
        await release(session, "v1")
        with pytest.raises(ReleaseNotFoundError):
            await releases.diff(session, base="v1", target="nope")
        with pytest.raises(ReleaseNotFoundError):
            await releases.diff(session, base="nope", target="current")

    async def test_diff_across_several_batches(
        self, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await release(session, "empty")  # a release of an empty catalogue is allowed
        ids = await clean_catalogue(session, 5)
        monkeypatch.setattr(releases, "_DIFF_BATCH", 2)
        d = await releases.diff(session, base="empty", target="current")
        assert [r.id for r in d.added] == ids
