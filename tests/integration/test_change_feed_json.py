"""The change feed's JSON is built without pydantic; it must be exactly what the schema would write.

`changes.page_json` serialises plain data in ChangePage's shape in one call. Each test here holds
that JSON equal, byte for byte, to ChangePage's own validation and serialisation of it, and its
items equal to the revisions the revisions endpoint reads through ItemRead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ItemStatus
from app.models import Change, ItemRevision
from app.schemas.changes import ChangePage
from app.schemas.items import ItemCreate, ItemRead, ItemUpdate
from app.services import changes, items, revisions
from app.services.revisions import Actor, revision_document
from tests.factories import DUNHUANG, MINQIN, import_file

SECRET = "feed-json-secret-feed-json-secret"


def canonical(body: bytes) -> bytes:
    """The page as ChangePage itself validates and writes it."""
    return ChangePage.model_validate_json(body).model_dump_json(by_alias=True).encode()


async def _edit_every_way(session: AsyncSession) -> None:
    """Updates that set and clear fields, a withdrawal, a restore and an item made by API."""
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)
    found = await items.get_document_by_code(session, local_code="11620621MB176555834620236001000")
    first = ItemRead.model_validate(found)
    actor = Actor("feed-test", reason="复核")
    await items.update(
        session,
        item_id=first.id,
        expected_version=1,
        data=ItemUpdate(remarks='备注\t含制表符、"引号"与\\反斜杠 😀', handling_unit=None),
        actor=actor,
    )
    await items.set_status(
        session, item_id=first.id, expected_version=2, status=ItemStatus.WITHDRAWN, actor=actor
    )
    await items.set_status(
        session, item_id=first.id, expected_version=3, status=ItemStatus.ACTIVE, actor=Actor("x")
    )
    await items.create(
        session,
        data=ItemCreate(
            agency_id=first.agency.id,
            seq=99,
            name="对违反医疗保障基金使用规定行为的处罚",
            power_type="02",
            local_code="11620621MB176555834620236002000",
            exercising_body="民勤县医疗保障局",
            legal_basis="《医疗保障基金使用监督管理条例》第三十八条",
            responsibilities="1.立案阶段责任",
            accountability="1.没有法律依据实施处罚的",
        ),
        actor=actor,
    )


async def _all_pages(session: AsyncSession, limit: int) -> list[changes.FeedPage]:
    pages, after = [], None
    while True:
        page = await changes.page_json(session, after=after, limit=limit, secret=SECRET)
        pages.append(page)
        if not page.has_more:
            return pages
        after = page.next_cursor


async def test_every_page_is_what_the_schema_writes(session: AsyncSession) -> None:
    await _edit_every_way(session)
    for limit in (1, 7, 1000):
        pages = await _all_pages(session, limit)
        for page in pages:
            assert page.body == canonical(page.body)
            parsed = ChangePage.model_validate_json(page.body)
            assert parsed.next_cursor == page.next_cursor
            assert parsed.has_more == page.has_more
        kinds = [c.kind for p in pages for c in ChangePage.model_validate_json(p.body).changes]
        assert {"create", "update", "withdraw", "restore"} <= set(kinds)


async def test_each_change_carries_its_revision(session: AsyncSession) -> None:
    await _edit_every_way(session)
    (page,) = await _all_pages(session, 1000)
    feed = ChangePage.model_validate_json(page.body).changes
    assert len(feed) == await session.scalar(select(func.count()).select_from(ItemRevision))
    for change in feed:
        revision = await items.get_revision(session, item_id=change.item_id, version=change.version)
        assert change.item == revision.item
        assert (change.kind, change.changed_at, change.actor, change.reason) == (
            revision.kind,
            revision.changed_at,
            revision.actor,
            revision.reason,
        )


AGENCY = {
    "id": 3,
    "name": "敦煌市医疗保障局",
    "credit_code": "11620982MB1234567X",
    "division_code": "620982",
    "level": "4",
}
_text = st.none() | st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    text=_text,
    code=st.sampled_from([None, "01", "02", "09", "99"]),
    source=st.sampled_from([None, ("a.tsv", 4, None), ("b.pdf.txt", None, 12)]),
    created=_times | st.none(),
    offset=st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=8))]),
    changed=_times,
    changed_tz=st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-5))]),
    citations=st.none()
    | st.just([{"law": "中华人民共和国社会保险法", "articles": ["第八十七条"]}]),
)
def test_a_revision_document_is_written_as_item_read_writes_it(
    text: str | None,
    code: str | None,
    source: tuple[str, int | None, int | None] | None,
    created: datetime | None,
    offset: timezone,
    changed: datetime,
    changed_tz: timezone,
    citations: list[dict[str, Any]] | None,
) -> None:
    values: dict[str, Any] = dict.fromkeys(revisions.SNAPSHOT_FIELDS, text)
    values.update(
        id=7,
        version=3,
        seq=1,
        agency_id=AGENCY["id"],
        name=text or "事项",
        power_type_code=code,
        legal_citations=citations,
        status="active",
        source_file=source and source[0],
        source_line=source and source[1],
        source_page=source and source[2],
        created_at=created and created.astimezone(offset),
    )
    document = revision_document(
        revisions.snapshot_of(values), AGENCY, changed.astimezone(changed_tz)
    )
    written = orjson.dumps(document, option=orjson.OPT_UTC_Z)
    assert written == ItemRead.model_validate(document).model_dump_json().encode()


async def test_revisions_without_a_stored_document_read_the_same(session: AsyncSession) -> None:
    """Revisions from before migration 0005 have no document; one in another key order is read
    in full. Copies of real revisions in both forms must give the very same items."""
    await _edit_every_way(session)
    originals = (await session.scalars(select(ItemRevision).order_by(ItemRevision.id))).all()
    picked = [*originals[:3], *originals[-3:]]
    copies: dict[int, int] = {}  # copy's revision id -> original's
    for n, rev in enumerate(picked):
        stored = orjson.loads(rev.document or "null")
        assert stored is not None
        assert stored["agency"] is None
        # No document at all, or one whose keys another writer put in another order.
        document = None if n % 2 else json.dumps(stored, ensure_ascii=False, sort_keys=True)
        copy_id = await session.scalar(
            insert(ItemRevision)
            .values(
                item_id=rev.item_id,
                version=rev.version + 1000,
                kind=rev.kind,
                snapshot=rev.snapshot,
                document=document,
                changed_fields=rev.changed_fields,
                changed_at=rev.changed_at,
                actor=rev.actor,
                reason=rev.reason,
            )
            .returning(ItemRevision.id)
        )
        assert copy_id is not None
        await session.execute(
            insert(Change).values(
                item_id=rev.item_id,
                revision_id=copy_id,
                version=rev.version + 1000,
                kind=rev.kind,
                changed_at=rev.changed_at,
            )
        )
        copies[rev.version + 1000] = rev.version
    pages = await _all_pages(session, 4)
    feed = [c for p in pages for c in ChangePage.model_validate_json(p.body).changes]
    for page in pages:
        assert page.body == canonical(page.body)
    by_key = {(c.item_id, c.version): c for c in feed}
    copied = [c for c in feed if c.version in copies]
    assert len(copied) == len(picked)
    for change in copied:
        original = by_key[(change.item_id, copies[change.version])]
        assert change.item == original.item
