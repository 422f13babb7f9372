"""Exports: every format imports back into an empty database as the same catalogue, streamed."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.enums import ItemStatus
from app.errors import AgencyNotFoundError, ReleaseNotFoundError
from app.models import Agency, Item
from app.schemas.items import ItemCreate, ItemUpdate
from app.schemas.releases import ReleaseCreate
from app.services import exports, imports, items, reference, releases
from app.services.importers.prepare import CONTENT_FIELDS
from app.services.importers.structured import FLAT_COLUMNS
from app.services.revisions import Actor
from app.settings import Settings
from tests.dbutil import drop_database, fresh_database
from tests.factories import DUNHUANG, MINQIN, import_bytes, import_file

ACTOR = Actor("test")
EDGE_AGENCY = "测试县医疗保障局"
LONG_AGENCY = "长文本测试局"
# Longer than the 32,767 characters an Excel cell holds.
LONG_TEXT = "依据《中华人民共和国社会保险法》第八十七条。" * 1600


def edge_item(agency_id: int, **overrides: Any) -> ItemCreate:
    values: dict[str, Any] = {
        "agency_id": agency_id,
        "seq": 1,
        "name": "测试事项",
        "power_type": "02",
        "exercising_body": EDGE_AGENCY,
        "legal_basis": "《中华人民共和国社会保险法》第八十七条",
        "responsibilities": "1.立案阶段责任",
        "accountability": "1.没有法律依据实施处罚的",
    }
    values.update(overrides)
    return ItemCreate(**values)


async def add_edge_cases(session: AsyncSession) -> dict[str, int]:
    """What the seeds lack: formula-like text, nulls, CSV quoting, withdrawn and edited items."""
    agency = Agency(name=EDGE_AGENCY)
    session.add(agency)
    await session.flush()
    ids: dict[str, int] = {}
    formula = await items.create(
        session,
        data=edge_item(
            agency.id,
            seq=1,
            name="=SUM(A1:A2)",
            legal_basis='=HYPERLINK("http://example.com")',
            responsibilities="+1分",
            accountability="-1分",
            remarks="@备注",
        ),
        actor=ACTOR,
    )
    ids["formula"] = formula.id
    # Every optional field null; a numeric-looking name that a spreadsheet would turn into 12.
    nulls = await items.create(
        session,
        data=edge_item(agency.id, seq=None, name="0012", handling_unit=None, remarks=None),
        actor=ACTOR,
    )
    ids["nulls"] = nulls.id
    quoting = await items.create(
        session,
        data=edge_item(
            agency.id,
            seq=3,
            name="Article 5, paragraph 2",
            sub_item_name="分项",
            legal_basis='Article 5, "quoted"; part',
            local_code="11620621MB176555834620236003000",
        ),
        actor=ACTOR,
    )
    ids["quoting"] = quoting.id
    withdrawn = await items.create(session, data=edge_item(agency.id, seq=4), actor=ACTOR)
    await items.set_status(
        session,
        item_id=withdrawn.id,
        expected_version=1,
        status=ItemStatus.WITHDRAWN,
        actor=ACTOR,
    )
    ids["withdrawn"] = withdrawn.id
    edited = await items.create(
        session, data=edge_item(agency.id, seq=5, remarks="待删除"), actor=ACTOR
    )
    await items.update(
        session,
        item_id=edited.id,
        expected_version=1,
        data=ItemUpdate(remarks=None, name="改过名称的事项"),
        actor=ACTOR,
    )
    ids["edited"] = edited.id
    # Through the importer, which takes text longer than the API's 20,000 characters.
    record = {
        "agency": LONG_AGENCY,
        "seq": 1,
        "name": "长文本事项",
        "power_type": "行政检查",
        "exercising_body": LONG_AGENCY,
        "legal_basis": LONG_TEXT,
        "responsibilities": "1.检查",
        "accountability": "1.追责",
    }
    await import_bytes(session, json.dumps([record], ensure_ascii=False).encode(), "long.json")
    ids["long"] = await session.scalar(select(Item.id).where(Item.name == "长文本事项")) or 0
    return ids


async def build_catalogue(session: AsyncSession) -> dict[str, int]:
    """Both seeds plus the inline edge cases."""
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)
    return await add_edge_cases(session)


async def export_bytes(session: AsyncSession, fmt: exports.ExportFormat, **kw: Any) -> bytes:
    request = exports.ExportRequest(format=fmt, **kw)
    return b"".join([chunk async for chunk in exports.stream(session, request)])


async def catalogue_content(session: AsyncSession) -> list[str]:
    """Every item's content fields and agency name, sorted (ids differ between databases)."""
    columns = [getattr(Item, name) for name in CONTENT_FIELDS]
    rows = (await session.execute(select(Agency.name, *columns).join(Agency))).all()
    return sorted(json.dumps(list(row), ensure_ascii=False) for row in rows)


async def statuses(session: AsyncSession) -> dict[tuple[str, str], str]:
    rows = await session.execute(select(Agency.name, Item.name, Item.status).join(Agency))
    return {(a, n): str(s) for a, n, s in rows}


@pytest.fixture
async def catalogue(session: AsyncSession) -> dict[str, int]:
    return await build_catalogue(session)


@pytest.fixture(scope="module")
def roundtrip_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """A second database, migrated and empty: where exports are imported back."""
    url = fresh_database(f"rt{worker_id}", tmp_path_factory.mktemp("roundtrip"))
    migrations.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
async def empty(roundtrip_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the empty database, rolled back after the test so it stays empty."""
    engine = create_engine(Settings(database_url=roundtrip_url))
    try:
        async with engine.connect() as conn:
            trans = await conn.begin()
            sess = AsyncSession(
                bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            try:
                yield sess
            finally:
                await sess.close()
                await trans.rollback()
    finally:
        await engine.dispose()


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", exports.FORMATS)
    async def test_import_of_export_reproduces_every_content_field(
        self,
        session: AsyncSession,
        empty: AsyncSession,
        catalogue: dict[str, int],
        fmt: exports.ExportFormat,
    ) -> None:
        data = await export_bytes(session, fmt)
        report = await imports.run(
            empty,
            imports.ImportRequest(file_name=f"export.{fmt}", data=data, format=fmt),
            actor=ACTOR,
        )
        assert report.counts.errors == 0
        original = await catalogue_content(session)
        assert report.counts.new == len(original)
        assert await catalogue_content(empty) == original
        # The edge cases are really in there, not lost on both sides alike.
        names = {json.loads(row)[2] for row in original}  # agency, seq, name, ...
        assert {"=SUM(A1:A2)", "0012", "改过名称的事项", "长文本事项"} <= names

    @pytest.mark.parametrize("fmt", exports.FORMATS)
    async def test_reimport_into_the_source_changes_nothing(
        self, session: AsyncSession, catalogue: dict[str, int], fmt: exports.ExportFormat
    ) -> None:
        data = await export_bytes(session, fmt)
        report = await imports.run(
            session,
            imports.ImportRequest(file_name=f"export.{fmt}", data=data, format=fmt, dry_run=True),
            actor=ACTOR,
        )
        # Exports carry each item's status, so the withdrawn item stays withdrawn.
        assert (report.counts.new, report.counts.changed) == (0, 0)
        assert (report.counts.restored, report.counts.withdrawn) == (0, 0)
        assert report.counts.unchanged == report.counts.items

    @pytest.mark.parametrize("fmt", exports.FORMATS)
    async def test_withdrawn_items_come_back_withdrawn(
        self,
        session: AsyncSession,
        empty: AsyncSession,
        catalogue: dict[str, int],
        fmt: exports.ExportFormat,
    ) -> None:
        data = await export_bytes(session, fmt)
        await imports.run(
            empty,
            imports.ImportRequest(file_name=f"export.{fmt}", data=data, format=fmt),
            actor=ACTOR,
        )
        assert await statuses(empty) == await statuses(session)


class TestFormats:
    async def test_json_is_an_array_of_the_api_item_documents(
        self, session: AsyncSession, catalogue: dict[str, int]
    ) -> None:
        documents = json.loads(await export_bytes(session, "json"))
        assert [d["id"] for d in documents] == sorted(d["id"] for d in documents)
        for document in documents:
            current = await items.get(session, item_id=document["id"])
            assert document == current.model_dump(mode="json")
        by_id = {d["id"]: d for d in documents}
        assert by_id[catalogue["withdrawn"]]["status"] == "withdrawn"
        assert by_id[catalogue["edited"]]["version"] == 2
        assert by_id[catalogue["nulls"]]["seq"] is None

    async def test_ndjson_is_one_item_per_line(
        self, session: AsyncSession, catalogue: dict[str, int]
    ) -> None:
        data = await export_bytes(session, "ndjson")
        lines = data.decode().splitlines()
        assert data.endswith(b"\n")
        assert [json.loads(line) for line in lines] == json.loads(
            await export_bytes(session, "json")
        )

    async def test_empty_catalogue_exports_empty_documents(self, session: AsyncSession) -> None:
        assert json.loads(await export_bytes(session, "json")) == []
        assert await export_bytes(session, "ndjson") == b""
        csv_text = (await export_bytes(session, "csv")).decode("utf-8-sig")
        assert list(csv.reader(io.StringIO(csv_text))) == [list(FLAT_COLUMNS)]

    async def test_csv_has_bom_and_the_flat_columns(
        self, session: AsyncSession, catalogue: dict[str, int]
    ) -> None:
        data = await export_bytes(session, "csv")
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert list(rows[0]) == list(FLAT_COLUMNS)
        by_id = {int(r["id"]): r for r in rows}
        quoting = by_id[catalogue["quoting"]]
        assert quoting["legal_basis"] == 'Article 5, "quoted"; part'
        assert quoting["agency"] == EDGE_AGENCY
        minqin = next(r for r in rows if r["agency"] == "民勤县医疗保障局")
        assert minqin["agency_credit_code"] == "11620621MB17655583"
        assert minqin["agency_division_code"] == "620621"
        assert minqin["power_type_label"] == "行政处罚"
        assert minqin["source_file"] == MINQIN.name
        assert by_id[catalogue["nulls"]]["remarks"] == ""
        assert by_id[catalogue["withdrawn"]]["status"] == "withdrawn"

    async def test_xlsx_stores_formula_like_text_as_text_cells(
        self, session: AsyncSession, catalogue: dict[str, int]
    ) -> None:
        data = await export_bytes(session, "xlsx")
        sheet = load_workbook(io.BytesIO(data)).worksheets[0]
        rows = list(sheet.iter_rows())
        assert [c.value for c in rows[0]] == list(FLAT_COLUMNS)
        assert not [c.coordinate for row in rows for c in row if c.data_type == "f"]
        column = {name: i for i, name in enumerate(FLAT_COLUMNS)}
        formula = next(r for r in rows if r[column["id"]].value == catalogue["formula"])
        for name, value in [
            ("name", "=SUM(A1:A2)"),
            ("legal_basis", '=HYPERLINK("http://example.com")'),
            ("responsibilities", "+1分"),
            ("accountability", "-1分"),
            ("remarks", "@备注"),
        ]:
            assert formula[column[name]].value == value
            assert formula[column[name]].data_type == "s"
        nulls = next(r for r in rows if r[column["id"]].value == catalogue["nulls"])
        assert nulls[column["name"]].value == "0012"
        long = next(r for r in rows if r[column["id"]].value == catalogue["long"])
        assert long[column["legal_basis"]].value == LONG_TEXT

    async def test_xlsx_drops_control_characters_xml_cannot_hold(
        self, session: AsyncSession
    ) -> None:
        agency = Agency(name=EDGE_AGENCY)
        session.add(agency)
        await session.flush()
        await items.create(session, data=edge_item(agency.id, remarks="响铃\x07符"), actor=ACTOR)
        sheet = load_workbook(io.BytesIO(await export_bytes(session, "xlsx"))).worksheets[0]
        remarks = [row[FLAT_COLUMNS.index("remarks")] for row in sheet.iter_rows(values_only=True)]
        assert remarks[1] == "响铃符"
        # The text formats keep the character.
        assert json.loads(await export_bytes(session, "json"))[0]["remarks"] == "响铃\x07符"

    def test_unfinished_xlsx_leaves_no_temporary_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        workbook = exports._Workbook()
        workbook.append([list(FLAT_COLUMNS), ["x"] * len(FLAT_COLUMNS)])
        assert list(tmp_path.iterdir())
        workbook.discard()
        assert list(tmp_path.iterdir()) == []


class TestScope:
    async def test_agency_filter(self, session: AsyncSession, catalogue: dict[str, int]) -> None:
        agency_id = (await reference.agency_by_name(session, "民勤县医疗保障局")).id
        documents = json.loads(await export_bytes(session, "json", agency_id=agency_id))
        assert len(documents) == 9
        assert {d["agency"]["name"] for d in documents} == {"民勤县医疗保障局"}

    async def test_unknown_agency_and_release_refused_before_any_byte(
        self, session: AsyncSession
    ) -> None:
        with pytest.raises(AgencyNotFoundError):
            await reference.agency_by_name(session, "不存在的部门")
        with pytest.raises(AgencyNotFoundError):
            await exports.check(session, exports.ExportRequest(format="csv", agency_id=999_999))
        with pytest.raises(ReleaseNotFoundError):
            await exports.check(session, exports.ExportRequest(format="csv", release="nope"))

    async def test_release_pinned_export_shows_items_as_released(
        self, session: AsyncSession, catalogue: dict[str, int]
    ) -> None:
        await releases.create(
            session,
            data=ReleaseCreate(name="r1", force=True, reason="seeds have known duplicates"),
            actor=ACTOR,
        )
        released = json.loads(await export_bytes(session, "json"))
        edited = catalogue["edited"]
        await items.update(
            session,
            item_id=edited,
            expected_version=2,
            data=ItemUpdate(name="发布之后又改"),
            actor=ACTOR,
        )
        agency = await session.scalar(select(Agency.id).where(Agency.name == EDGE_AGENCY))
        assert agency is not None
        await items.create(session, data=edge_item(agency, seq=9, name="发布之后新增"), actor=ACTOR)

        pinned = json.loads(await export_bytes(session, "json", release="r1"))
        now = json.loads(await export_bytes(session, "json"))
        strip = {"updated_at", "created_at"}
        assert [{k: v for k, v in d.items() if k not in strip} for d in pinned] == [
            {k: v for k, v in d.items() if k not in strip} for d in released
        ]
        assert len(now) == len(pinned) + 1
        assert {d["name"] for d in now} - {d["name"] for d in pinned} == {
            "发布之后又改",
            "发布之后新增",
        }
        minqin = (await reference.agency_by_name(session, "民勤县医疗保障局")).id
        pinned_minqin = json.loads(
            await export_bytes(session, "json", release="r1", agency_id=minqin)
        )
        assert [d for d in pinned if d["agency"]["id"] == minqin] == pinned_minqin
        assert len(pinned_minqin) == 9
        # Pinned flat formats carry the released versions too.
        csv_rows = list(
            csv.DictReader(
                io.StringIO((await export_bytes(session, "csv", release="r1")).decode("utf-8-sig"))
            )
        )
        assert next(r for r in csv_rows if int(r["id"]) == edited)["version"] == "2"


class TestStreaming:
    # Chunks up to and including the first one with items: csv and json open with a header.
    @pytest.mark.parametrize(("fmt", "opening"), [("csv", 2), ("json", 2), ("ndjson", 1)])
    async def test_first_chunk_arrives_before_later_batches_are_read(
        self,
        engine: AsyncEngine,
        session: AsyncSession,
        catalogue: dict[str, int],
        fmt: exports.ExportFormat,
        opening: int,
    ) -> None:
        total = len(json.loads(await export_bytes(session, "json")))
        seen: list[str] = []

        def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", listener)
        try:
            chunks = exports.stream(session, exports.ExportRequest(format=fmt), batch_size=5)
            for _ in range(opening):
                await anext(chunks)
            read_before_first_items = len(seen)
            async for _chunk in chunks:
                pass
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", listener)
        assert read_before_first_items == 1
        # One query per batch of five, plus the empty one that ends a catalogue of full batches.
        assert len(seen) == total // 5 + 1

    async def test_progress_counts_every_item(
        self, session: AsyncSession, catalogue: dict[str, int]
    ) -> None:
        calls: list[tuple[int, int]] = []
        request = exports.ExportRequest(format="ndjson")
        lines = b"".join(
            [
                c
                async for c in exports.stream(
                    session, request, batch_size=10, progress=lambda d, t: calls.append((d, t))
                )
            ]
        ).splitlines()
        assert calls[-1] == (len(lines), len(lines))
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.fixture
async def committed(
    tmp_path: Path, worker_id: str
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A database of its own whose data is committed, as a server sees it."""
    url = await asyncio.to_thread(fresh_database, f"exp{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(Settings(database_url=url))
    yield create_sessionmaker(engine)
    await engine.dispose()
    await asyncio.to_thread(drop_database, url)


class TestSnapshot:
    async def test_export_reads_one_state_while_others_commit(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        agency_id, ids = await _committed_items(committed, 4)
        chunks = exports.export(committed, exports.ExportRequest(format="ndjson"), batch_size=1)
        first = json.loads(await anext(chunks))
        assert first["id"] == ids[0]
        # Committed while the export is half way: it must see none of it.
        async with committed() as s, s.begin():
            await items.update(
                s,
                item_id=ids[2],
                expected_version=1,
                data=ItemUpdate(name="导出中改名"),
                actor=ACTOR,
            )
            await items.create(s, data=edge_item(agency_id, seq=9), actor=ACTOR)
        rest = [json.loads(chunk) async for chunk in chunks]
        assert [d["id"] for d in rest] == ids[1:]
        assert {d["name"] for d in rest} == {"测试事项"}

    @pytest.mark.postgres
    async def test_postgres_snapshot_is_read_only(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with exports.snapshot_session(committed) as s:
            level = (await s.execute(text("SHOW transaction_isolation"))).scalar_one()
            read_only = (await s.execute(text("SHOW transaction_read_only"))).scalar_one()
        assert (level, read_only) == ("repeatable read", "on")

    @pytest.mark.postgres
    async def test_xlsx_gives_back_its_connection_before_the_download(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        engine = committed.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        await _committed_items(committed, 1)
        text_chunks = exports.export(committed, exports.ExportRequest(format="ndjson"))
        await anext(text_chunks)
        assert pool.checkedout() == 1  # text formats read while they send
        await text_chunks.aclose()
        workbook = exports.export(committed, exports.ExportRequest(format="xlsx"))
        await anext(workbook)
        assert pool.checkedout() == 0
        await workbook.aclose()

    @pytest.mark.postgres
    async def test_a_cancelled_export_does_not_wait_for_a_blocked_read(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        # The cancel of a client gone lands inside the blocked query on PostgreSQL (on SQLite
        # the reads are shielded, bounded by its timeouts): the export ends while the lock that
        # blocks it is still held, rather than keeping its connection until the lock goes.
        await _committed_items(committed, 3)
        request = exports.ExportRequest(format="ndjson")
        async with committed() as locker, locker.begin():
            await locker.execute(text("LOCK TABLE item IN ACCESS EXCLUSIVE MODE"))

            # Cancelled as Starlette cancels a body whose client has gone: by a cancel scope.
            gone = anyio.CancelScope()

            async def consume() -> None:
                with gone:
                    async for _chunk in exports.export(committed, request, batch_size=1):
                        pass

            export = asyncio.create_task(consume())
            while not await _waits_on_a_lock(committed):
                assert not export.done(), export
                await asyncio.sleep(0.02)
            gone.cancel()
            # A guard against a hang, not a limit on speed: the lock stays held throughout.
            done, _ = await asyncio.wait({export}, timeout=60)
            ended_while_locked = done == {export}
        await export  # the lock is gone now, whichever way it went
        assert ended_while_locked
        assert gone.cancelled_caught


async def _committed_items(
    maker: async_sessionmaker[AsyncSession], count: int
) -> tuple[int, list[int]]:
    """`count` items of a new agency, committed: the agency's id and the items' ids."""
    async with maker() as s, s.begin():
        agency = Agency(name=EDGE_AGENCY)
        s.add(agency)
        await s.flush()
        made = [
            await items.create(s, data=edge_item(agency.id, seq=n), actor=ACTOR)
            for n in range(1, count + 1)
        ]
        return agency.id, [item.id for item in made]


async def _waits_on_a_lock(maker: async_sessionmaker[AsyncSession]) -> bool:
    """Whether some other session of this database waits on a lock."""
    async with maker() as s:
        waiting = await s.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
    return bool(waiting)
