"""The import service on the real seeds and on edited lists: atomic, idempotent, traceable."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import dialect
from app.enums import ChangeKind, ItemStatus
from app.errors import ImportFormatError
from app.models import Agency, Item, ItemRevision
from app.services import imports
from app.services.revisions import Actor
from tests.factories import (
    DUNHUANG,
    MINQIN,
    SHARED_CODE,
    import_bytes,
    import_file,
    table_counts,
)
from tests.import_samples import bad_files, csv_bytes, export_rows


async def _items(session: AsyncSession, agency_name: str) -> list[Item]:
    stmt = (
        select(Item)
        .join(Agency, Agency.id == Item.agency_id)
        .where(Agency.name == agency_name)
        .order_by(Item.seq, Item.id)
    )
    return list((await session.scalars(stmt)).all())


class TestMinqinSeed:
    async def test_all_nine_items_with_their_exact_codes(self, session: AsyncSession) -> None:
        report = await import_file(session, MINQIN)
        assert report.status == "imported"
        assert report.counts.new == 9
        items = await _items(session, "民勤县医疗保障局")
        assert [i.seq for i in items] == list(range(1, 10))
        assert items[0].local_code == "11620621MB176555834620236001000"
        assert [i.local_code for i in items[3:6]] == [SHARED_CODE] * 3
        assert len({i.id for i in items[3:6]}) == 3
        assert all(i.exercising_body == "民勤县医疗保障局" for i in items)
        assert all(i.handling_unit for i in items)

    async def test_power_types_mapped_and_raw_label_kept(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        items = await _items(session, "民勤县医疗保障局")
        assert [(i.power_type_code, i.power_type_raw) for i in items[:4]] == [
            ("02", "行政处罚"),
            ("05", "行政给付"),
            ("08", "行政奖励"),
            ("10", "其他行政权力"),
        ]

    async def test_text_is_cleaned_and_raw_cells_kept(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        items = await _items(session, "民勤县医疗保障局")
        for item in items:
            for text in (item.legal_basis, item.responsibilities, item.accountability):
                assert text
                assert "<p>" not in text
                assert "</p>" not in text
            assert item.source_raw is not None
            assert item.source_raw["cells"]["name"]
        raw_cells = [c for i in items for c in i.source_raw["cells"].values()]  # type: ignore[index]
        assert any("<p>" in c for c in raw_cells), "the raw HTML stays available for audit"

    async def test_agency_from_codes(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        agency = await session.scalar(select(Agency).where(Agency.name == "民勤县医疗保障局"))
        assert agency is not None
        assert agency.credit_code == "11620621MB1765558"[:17] + "3"
        assert agency.division_code == "620621"
        assert agency.level == "4"

    async def test_source_lines_point_at_the_rows(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        lines = MINQIN.read_text(encoding="utf-8").splitlines()
        for item in await _items(session, "民勤县医疗保障局"):
            assert item.source_file == MINQIN.name
            assert item.source_line is not None
            assert lines[item.source_line - 1].split("\t")[0].strip() == str(item.seq)

    async def test_citations_extracted(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        first = (await _items(session, "民勤县医疗保障局"))[0]
        assert {"law": "中华人民共和国社会保险法", "articles": ["第八十七条", "第八十八条"]} in (
            first.legal_citations
        )


class TestDunhuangSeed:
    async def test_28_items_without_codes_and_the_repeat_warning(
        self, session: AsyncSession
    ) -> None:
        report = await import_file(session, DUNHUANG)
        assert report.counts.new == 28
        repeated = [p for p in report.problems if p.code == "import.repeated_row"]
        assert len(repeated) == 1
        assert repeated[0].line is not None
        items = await _items(session, "敦煌市医疗保障局")
        assert [i.seq for i in items] == list(range(1, 29))
        assert all(i.local_code is None for i in items)

    async def test_nonstandard_label_kept_with_code_06(self, session: AsyncSession) -> None:
        await import_file(session, DUNHUANG)
        items = await _items(session, "敦煌市医疗保障局")
        supervision = [i for i in items if i.power_type_raw == "行政监督"]
        assert supervision
        assert {i.power_type_code for i in supervision} == {"06"}


class TestIdempotence:
    async def test_same_file_twice_writes_nothing_and_says_so(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        await import_file(session, DUNHUANG)
        before = await table_counts(session)
        again = [await import_file(session, MINQIN), await import_file(session, DUNHUANG)]
        assert [r.status for r in again] == ["unchanged", "unchanged"]
        assert [r.counts.unchanged for r in again] == [9, 28]
        assert all(r.batch_id is None for r in again)
        assert await table_counts(session) == before

    async def test_identity_of_shared_code_rows_is_stable_when_reordered(
        self, session: AsyncSession
    ) -> None:
        await import_file(session, MINQIN)
        ids_before = {i.name: i.id for i in await _items(session, "民勤县医疗保障局")}
        text = MINQIN.read_text(encoding="utf-8")
        blocks = text.split("\n序号")
        # Swap the blocks of items 4 and 6 (header + row each), renumbering nothing.
        blocks[4], blocks[6] = blocks[6], blocks[4]
        report = await import_bytes(session, "\n序号".join(blocks).encode(), MINQIN.name)
        assert report.counts.new == 0
        ids_after = {i.name: i.id for i in await _items(session, "民勤县医疗保障局")}
        assert ids_after == ids_before


class TestNewerVersion:
    async def test_only_changed_items_get_revisions(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        text = MINQIN.read_text(encoding="utf-8").replace("基金监管股", "基金监督管理股", 1)
        report = await import_bytes(session, text.encode(), MINQIN.name)
        assert (report.counts.changed, report.counts.unchanged) == (1, 8)
        item = (await _items(session, "民勤县医疗保障局"))[0]
        assert item.handling_unit == "基金监督管理股"
        assert item.version == 2
        revs = (
            await session.scalars(
                select(ItemRevision)
                .where(ItemRevision.item_id == item.id)
                .order_by(ItemRevision.version)
            )
        ).all()
        assert [(r.version, r.kind) for r in revs] == [
            (1, ChangeKind.CREATE),
            (2, ChangeKind.UPDATE),
        ]
        assert revs[1].changed_fields == ["handling_unit"]

    async def test_vanished_items_reported_not_withdrawn_by_default(
        self, session: AsyncSession
    ) -> None:
        await import_file(session, MINQIN)
        text = MINQIN.read_text(encoding="utf-8")
        without_last = text[: text.rindex("\n序号")] + "\n"
        report = await import_bytes(session, without_last.encode(), MINQIN.name)
        assert report.counts.vanished == 1
        assert report.vanished[0].seq == 9
        items = await _items(session, "民勤县医疗保障局")
        assert all(i.status == ItemStatus.ACTIVE for i in items)

    async def test_withdraw_missing_withdraws_and_reimport_restores(
        self, session: AsyncSession
    ) -> None:
        await import_file(session, MINQIN)
        text = MINQIN.read_text(encoding="utf-8")
        without_last = text[: text.rindex("\n序号")] + "\n"
        report = await import_bytes(
            session, without_last.encode(), MINQIN.name, withdraw_missing=True
        )
        assert report.counts.withdrawn == 1
        last = (await _items(session, "民勤县医疗保障局"))[-1]
        assert last.status == ItemStatus.WITHDRAWN
        restored = await import_file(session, MINQIN)
        assert restored.counts.restored == 1
        # The object read before the re-import follows its bulk UPDATE (mypy keeps the narrowing
        # of the assert above across the await).
        assert last.status == ItemStatus.ACTIVE  # type: ignore[comparison-overlap]
        assert last.version == 3


class TestDryRun:
    async def test_dry_run_writes_nothing_but_reports(self, session: AsyncSession) -> None:
        before = await table_counts(session)
        report = await import_file(session, MINQIN, dry_run=True)
        assert report.status == "dry_run"
        assert report.counts.new == 9
        assert await table_counts(session) == before
        assert await session.scalar(select(Agency).where(Agency.name == "民勤县医疗保障局")) is None


class TestBadInput:
    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"   \n\n",
            bytes(range(256)) * 8,
            b"\x00\x01\x02binary\xff\xfe",
            "序号,事项名称\n1,2\n".encode(),
            b"just some text\nwith lines\n",
            b'[{"name": "x"',
            b"PK\x03\x04garbage",
        ],
        ids=[
            "empty",
            "blank",
            "random",
            "binary",
            "headerless-csv",
            "prose",
            "truncated-json",
            "fake-xlsx",
        ],
    )
    async def test_refused_with_format_error_and_nothing_written(
        self, session: AsyncSession, data: bytes
    ) -> None:
        before = await table_counts(session)
        with pytest.raises(ImportFormatError):
            await import_bytes(session, data)
        assert await table_counts(session) == before

    async def test_unknown_format_refused(self, session: AsyncSession) -> None:
        with pytest.raises(ImportFormatError):
            await import_file(session, MINQIN, format="docx")

    async def test_truncated_tsv_row_refuses_the_file(self, session: AsyncSession) -> None:
        text = MINQIN.read_text(encoding="utf-8")
        truncated = text[: text.rindex("\t", 0, len(text) - 200)]
        before = await table_counts(session)
        with pytest.raises(ImportFormatError):
            await import_bytes(session, truncated.encode(), MINQIN.name)
        assert await table_counts(session) == before


class TestEncodings:
    async def test_gbk_and_bom_files_read_like_utf8(self, session: AsyncSession) -> None:
        text = MINQIN.read_text(encoding="utf-8")
        utf8 = await import_bytes(session, text.encode("utf-8"), "a.txt", dry_run=True)
        gbk = await import_bytes(session, text.encode("gb18030"), "a.txt", dry_run=True)
        bom = await import_bytes(session, b"\xef\xbb\xbf" + text.encode(), "a.txt", dry_run=True)
        assert utf8.counts.new == gbk.counts.new == bom.counts.new == 9


class TestDryRunValidation:
    async def test_dry_run_lists_the_issues_the_file_would_add(self, session: AsyncSession) -> None:
        before = await table_counts(session)
        report = await import_file(session, MINQIN, dry_run=True)
        assert await table_counts(session) == before
        errors = [i for i in report.validation if i["severity"] == "error"]
        assert [(e["rule"], [i["seq"] for i in e["items"]]) for e in errors] == [
            ("code.duplicate", [4, 5, 6])
        ]
        assert all(i["id"] is None for e in errors for i in e["items"])

    async def test_dry_run_of_an_imported_file_adds_nothing(self, session: AsyncSession) -> None:
        await import_file(session, DUNHUANG)
        report = await import_file(session, DUNHUANG, dry_run=True)
        assert report.validation == []

    async def test_dry_run_of_a_fix_adds_no_issue(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        fixed = MINQIN.read_text(encoding="utf-8").replace(
            SHARED_CODE, "11620621MB176555834621036005000", 1
        )
        report = await import_bytes(session, fixed.encode(), MINQIN.name, dry_run=True)
        assert report.counts.changed == 1
        # The duplicate only loses item 5 (4 and 6 still share the code): nothing is added.
        assert report.validation == []

    async def test_dry_run_of_a_file_growing_a_duplicate_reports_it(
        self, session: AsyncSession
    ) -> None:
        await import_file(session, MINQIN)
        text = MINQIN.read_text(encoding="utf-8")
        grown = text.replace("11620621MB176555834621036002000", SHARED_CODE, 1)
        assert grown != text
        report = await import_bytes(session, grown.encode(), MINQIN.name, dry_run=True)
        assert [(i["rule"], [x["seq"] for x in i["items"]]) for i in report.validation] == [
            ("code.duplicate", [4, 5, 6, 7])
        ]


class TestBadSampleFiles:
    @pytest.mark.parametrize("name", list(bad_files()))
    async def test_refused_and_the_catalogue_left_as_it_was(
        self, session: AsyncSession, name: str
    ) -> None:
        await import_file(session, MINQIN)
        before = await table_counts(session)
        with pytest.raises(ImportFormatError):
            await import_bytes(session, bad_files()[name], name)
        assert await table_counts(session) == before

    async def test_cut_json_is_named_as_json_not_an_unknown_layout(
        self, session: AsyncSession
    ) -> None:
        with pytest.raises(ImportFormatError, match="not valid JSON"):
            await import_bytes(session, bad_files()["truncated-json"], "cut.json")


def dunhuang_item_lines(seq: int) -> list[int]:
    """1-based lines of the seed where item `seq` starts (its number alone on a line)."""
    lines = DUNHUANG.read_text(encoding="utf-8").splitlines()
    return [n for n, line in enumerate(lines, start=1) if line.strip() == str(seq)]


def check_dunhuang_repeat(report: dict[str, Any]) -> None:
    """The one warning of the 敦煌市 seed: item 10 printed twice across a page break."""
    first, repeat = dunhuang_item_lines(10)
    (next_item,) = dunhuang_item_lines(11)
    assert report["counts"]["warnings"] == 1
    assert report["counts"]["errors"] == 0
    (problem,) = report["problems"]
    assert problem["severity"] == "warning"
    assert problem["code"] == "import.repeated_row"
    assert problem["file"] == DUNHUANG.name
    assert problem["line"] == repeat
    assert repeat < problem["line_end"] < next_item
    assert problem["field"] is None  # the whole row is repeated, not one field
    # The message names both printings: the first ends where the repeat begins.
    assert f"{first}–{repeat - 1}" in problem["message"]
    assert f"{repeat}–{problem['line_end']}" in problem["message"]


def rows_with_field_problems() -> bytes:
    """A CSV export whose rows 2-4 each have one field problem (the header is line 1)."""
    rows = export_rows(4)
    rows[0]["seq"] = "一"
    rows[1]["power_type_raw"] = "某某权力"
    rows[2]["name"] = ""
    return csv_bytes(rows)


FIELD_PROBLEMS = [
    ("import.bad_seq", 2, "seq"),
    ("import.unknown_power_type", 3, "power_type"),
    ("import.missing_name", 4, "name"),
]


def check_field_problems(report: dict[str, Any], file_name: str) -> None:
    assert report["counts"]["warnings"] == 3
    assert report["counts"]["errors"] == 0
    assert [(p["code"], p["line"], p["field"]) for p in report["problems"]] == FIELD_PROBLEMS
    assert {p["file"] for p in report["problems"]} == {file_name}
    assert {p["severity"] for p in report["problems"]} == {"warning"}


class TestReportProblems:
    async def test_dunhuang_repeat_is_one_warning_naming_both_line_ranges(
        self, session: AsyncSession
    ) -> None:
        report = await import_file(session, DUNHUANG)
        check_dunhuang_repeat(report.model_dump(mode="json"))

    async def test_each_problem_names_file_line_and_field(self, session: AsyncSession) -> None:
        report = await import_bytes(session, rows_with_field_problems(), "fields.csv")
        assert report.status == "imported"
        assert report.counts.new == 4
        check_field_problems(report.model_dump(mode="json"), "fields.csv")

    async def test_dry_run_counts_an_unreadable_row_as_an_error(
        self, session: AsyncSession
    ) -> None:
        data = json.dumps([*export_rows(2), "not an object"], ensure_ascii=False).encode()
        report = await import_bytes(session, data, "rows.json", dry_run=True)
        assert (report.counts.errors, report.counts.warnings) == (1, 0)
        (problem,) = report.problems
        assert (problem.severity, problem.code) == ("error", "import.bad_row")
        assert (problem.file, problem.line, problem.field) == ("rows.json", 3, None)
        # The same file for real is refused whole, naming the line.
        with pytest.raises(ImportFormatError, match="line 3"):
            await import_bytes(session, data, "rows.json")


@contextmanager
def statements_of(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement sent to the database meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def on_execute(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


class TestProgress:
    async def test_progress_covers_parse_prepare_match_and_write(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        calls: list[tuple[str, int, int | None, int]] = []
        with statements_of(engine) as sent:

            def progress(phase: str, done: int, total: int | None) -> None:
                item_inserts = sum(1 for s in sent if s.startswith("INSERT INTO item "))
                calls.append((phase, done, total, item_inserts))

            request = imports.ImportRequest("p.csv", csv_bytes(export_rows(240)))
            report = await imports.run(session, request, actor=Actor("test"), progress=progress)
        assert report.counts.new == 240
        phases = [c[0] for i, c in enumerate(calls) if i == 0 or calls[i - 1][0] != c[0]]
        assert phases == ["parse", "prepare", "match", "write", "done"]
        assert calls[0][2] is None, "the size is unknown until the file is parsed"
        (total,) = {c[2] for c in calls[1:]}
        assert total is not None
        assert total > 0
        dones = [c[1] for c in calls]
        assert dones == sorted(dones)
        assert dones[-1] == total
        # The bar moves while the text is cleaned, not in one jump.
        assert len([c for c in calls if c[0] == "prepare"]) > 2
        # Writing is part of the bar: it starts below the end, before the items are inserted,
        # and the bar is full only after they are.
        first_write = next(c for c in calls if c[0] == "write")
        assert first_write[1] < total
        assert first_write[3] == 0
        assert calls[-1][3] > 0

    async def test_unchanged_file_and_dry_run_still_end_full(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        calls: list[tuple[str, int, int | None]] = []

        def progress(phase: str, done: int, total: int | None) -> None:
            calls.append((phase, done, total))

        for dry_run in (False, True):
            calls.clear()
            request = imports.ImportRequest(MINQIN.name, MINQIN.read_bytes(), dry_run=dry_run)
            report = await imports.run(session, request, actor=Actor("test"), progress=progress)
            assert report.status == ("dry_run" if dry_run else "unchanged")
            assert calls[-1][0] == "done"
            assert calls[-1][1] == calls[-1][2]


class TestBulkWrites:
    """Set-based writes: the statements an import sends do not grow with its number of items."""

    N = 25

    async def _import(
        self, session: AsyncSession, engine: AsyncEngine, data: bytes, **options: object
    ) -> tuple[list[str], Any]:
        with statements_of(engine) as sent:
            report = await import_bytes(session, data, "bulk.csv", **options)
        return sent, report

    async def _counts(
        self, session: AsyncSession, engine: AsyncEngine, n: int
    ) -> dict[str, list[str]]:
        agency = f"批量{n}县医疗保障局"
        new, report = await self._import(session, engine, csv_bytes(export_rows(n, agency=agency)))
        assert report.counts.new == n
        changed_rows = export_rows(n, agency=agency, remarks="2026年复核")
        changed, report = await self._import(session, engine, csv_bytes(changed_rows))
        assert report.counts.changed == n
        withdrawn, report = await self._import(
            session, engine, csv_bytes(changed_rows[:1]), withdraw_missing=True
        )
        assert report.counts.withdrawn == n - 1
        restored, report = await self._import(session, engine, csv_bytes(changed_rows))
        assert report.counts.restored == n - 1
        return {"new": new, "changed": changed, "withdrawn": withdrawn, "restored": restored}

    async def test_statement_count_does_not_grow_with_the_items(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        assert 2 * self.N < imports.WRITE_CHUNK
        await session.scalar(select(1))  # the session's SAVEPOINT, before anything is counted
        small = await self._counts(session, engine, self.N)
        large = await self._counts(session, engine, 2 * self.N)
        for kind in small:
            assert len(large[kind]) == len(small[kind]), (kind, small[kind], large[kind])
        # One UPDATE statement (an executemany) for all the changed items.
        updates = [s for s in large["changed"] if s.startswith("UPDATE item ")]
        assert len(updates) == 1, updates

    async def test_rows_filling_different_fields_share_one_insert(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        # Lists leave optional fields empty here and there; the ORM left each row's empty columns
        # out of its INSERT, and rows of different shapes went out in separate statements.
        rows = export_rows(2 * self.N, agency="批量空字段县医疗保障局")
        for i, row in enumerate(rows):
            row["remarks"] = "已复核" if i % 2 else ""
            row["accountability"] = "" if i % 3 == 0 else row["accountability"]
        sent, report = await self._import(session, engine, csv_bytes(rows))
        assert report.counts.new == 2 * self.N
        inserts = [s for s in sent if s.startswith("INSERT INTO item ")]
        assert len(inserts) == 1, inserts
        stored = await _items(session, "批量空字段县医疗保障局")
        assert [(i.remarks, i.accountability is None) for i in stored[:3]] == [
            (None, True),
            ("已复核", False),
            (None, False),
        ]

    async def test_dry_run_leaves_loaded_items_as_stored(self, session: AsyncSession) -> None:
        await import_bytes(session, csv_bytes(export_rows(3)), "a.csv")
        loaded = await _items(session, "测试县医疗保障局")
        changed = csv_bytes(export_rows(3, remarks="已复核"))
        report = await import_bytes(session, changed, "b.csv", dry_run=True)
        assert report.counts.changed == 3
        # The rehearsal's bulk UPDATE was rolled back: the objects in the session say so too.
        assert [(i.remarks, i.version, i.source_file) for i in loaded] == [(None, 1, "a.csv")] * 3
        session.expunge_all()
        stored = await _items(session, "测试县医疗保障局")
        assert [(i.remarks, i.version, i.source_file) for i in stored] == [(None, 1, "a.csv")] * 3

    async def test_bulk_update_writes_what_a_reader_sees(self, session: AsyncSession) -> None:
        await import_bytes(session, csv_bytes(export_rows(3)), "a.csv")
        await import_bytes(session, csv_bytes(export_rows(3, remarks="已复核")), "b.csv")
        session.expunge_all()  # read back from the database, not the identity map
        items = await _items(session, "测试县医疗保障局")
        assert [(i.remarks, i.version, i.source_file) for i in items] == [
            ("已复核", 2, "b.csv")
        ] * 3
        revs = (
            await session.scalars(
                select(ItemRevision)
                .where(ItemRevision.item_id == items[0].id)
                .order_by(ItemRevision.version)
            )
        ).all()
        assert [(r.version, r.kind, r.changed_fields) for r in revs] == [
            (1, ChangeKind.CREATE, revs[0].changed_fields),
            (2, ChangeKind.UPDATE, ["remarks", "source_file"]),
        ]
        assert revs[1].snapshot["remarks"] == "已复核"
        assert revs[1].snapshot["version"] == 2


class TestPlannerStatistics:
    """An import that outgrows the planner's statistics refreshes them before it commits."""

    @staticmethod
    async def _analyzed(session: AsyncSession, agency: str) -> bool:
        # pg_statistic is transactional and every test rolls back: statistics naming this
        # test's own agency can only come from an ANALYZE inside this test's transaction.
        found = await session.scalar(
            sql(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'item'"
                " AND attname = 'exercising_body' AND most_common_vals::text LIKE :name"
            ),
            {"name": f"%{agency}%"},
        )
        return bool(found)

    @staticmethod
    async def _threshold(session: AsyncSession) -> int:
        """The rows an import must pass: the analyze threshold for item as it stands, less the
        changes committed since its last analyze (read from the statistics snapshot that
        PostgreSQL then keeps for the rest of the transaction, which the import shares)."""
        value = await session.scalar(
            sql(
                "SELECT :min_rows + :growth * greatest(c.reltuples, 0)"
                " - coalesce(s.n_mod_since_analyze, 0)"
                " FROM pg_class AS c LEFT JOIN pg_stat_all_tables AS s ON s.relid = c.oid"
                " WHERE c.relname = 'item'"
            ),
            {"min_rows": dialect.ANALYZE_MIN_ROWS, "growth": dialect.ANALYZE_GROWTH},
        )
        return math.floor(float(value))

    @pytest.mark.postgres
    async def test_a_big_import_analyzes_what_it_wrote(self, session: AsyncSession) -> None:
        agency = f"统计{uuid.uuid4().hex[:8]}县医疗保障局"
        n = await self._threshold(session) + 1
        report = await import_bytes(session, csv_bytes(export_rows(n, agency=agency)), "big.csv")
        assert report.counts.new == n
        assert await self._analyzed(session, agency)

    @pytest.mark.postgres
    async def test_an_import_under_the_threshold_leaves_it_to_autovacuum(
        self, session: AsyncSession
    ) -> None:
        agency = f"统计{uuid.uuid4().hex[:8]}县医疗保障局"
        n = await self._threshold(session)
        report = await import_bytes(session, csv_bytes(export_rows(n, agency=agency)), "small.csv")
        assert report.counts.new == n
        assert not await self._analyzed(session, agency)

    @pytest.mark.postgres
    async def test_a_role_that_may_not_analyze_skips_it(self, session: AsyncSession) -> None:
        role = f"powercat_not_owner_{uuid.uuid4().hex[:12]}"
        await session.execute(sql(f"CREATE ROLE {role} NOLOGIN"))  # undone with the test
        await session.execute(sql(f"SET LOCAL ROLE {role}"))
        assert await dialect.refresh_statistics(session, {"item": 10**9}) == []
        await session.execute(sql("RESET ROLE"))
        assert await dialect.refresh_statistics(session, {"item": 10**9}) == ["item"]

    @pytest.mark.sqlite
    async def test_sqlite_has_nothing_to_refresh(self, session: AsyncSession) -> None:
        assert await dialect.refresh_statistics(session, {"item": 10**9}) == []
