"""The validator: every rule on crafted items, the exact issue list of the seeds, stored runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.enums import ItemStatus, Severity
from app.errors import AgencyNotFoundError, InvalidInputError
from app.models import Agency, Item, ValidationIssue
from app.services import codes, reference
from app.services.validation import rules, runner, sql
from app.services.validation.rules import IssueData, ItemFacts
from tests.factories import DUNHUANG, MINQIN, SHARED_CODE, import_file

CREDIT17 = "11620621MB1765558"  # 民勤县医疗保障局, division 620621
AGENCY = "民勤县医疗保障局"
DIVISION = "620621"
MINQIN_NAME = "民勤县医疗保障局"
DUNHUANG_NAME = "敦煌市医疗保障局"


def code(
    type_: str = "02",
    main: str = "001",
    sub: str = "000",
    *,
    level: str = "4",
    region: str = "62",
    department: str = "36",
    credit17: str = CREDIT17,
) -> str:
    return codes.make_code(credit17, level, region, type_, department, main, sub)


async def make_agency(
    session: AsyncSession, name: str = AGENCY, *, division: str | None = DIVISION
) -> Agency:
    credit = None
    if division is not None:
        credit17 = "1" + "1" + division + CREDIT17[8:]
        credit = credit17 + (codes.credit_check_char(credit17) or "")
    agency = Agency(name=name, credit_code=credit, division_code=division, level=None)
    session.add(agency)
    await session.flush()
    return agency


async def make_item(session: AsyncSession, agency: Agency, seq: int, **overrides: Any) -> Item:
    """A complete, valid item of type 02 numbered by `seq`, unless overridden."""
    values: dict[str, Any] = {
        "agency_id": agency.id,
        "seq": seq,
        "name": f"对违反医疗保障基金使用规定行为的处罚（{seq}）",
        "power_type_code": "02",
        "power_type_raw": "行政处罚",
        "local_code": code(main=f"{seq:03d}"),
        "sub_local_code": None,
        "exercising_body": agency.name,
        "handling_unit": "基金监管股",
        "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条",
        "legal_citations": [],
        "responsibilities": "1.立案阶段责任：……",
        "accountability": "1.没有法律依据实施处罚的",
        "status": ItemStatus.ACTIVE,
    }
    values.update(overrides)
    item = Item(**values)
    session.add(item)
    await session.flush()
    return item


def summary(issues: list[IssueData]) -> list[tuple[str, str | None, tuple[int, ...], str | None]]:
    """(rule, field, seqs of the items, value) of each issue, in the runner's order."""
    return [(i.rule, i.field, tuple(x.seq or 0 for x in i.items), i.value) for i in issues]


def fired(issues: list[IssueData], rule: str) -> list[IssueData]:
    return [i for i in issues if i.rule == rule]


@pytest.fixture
async def agency(session: AsyncSession) -> Agency:
    return await make_agency(session)


class TestCleanCatalogue:
    async def test_complete_items_raise_nothing(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        for seq in range(1, 4):
            await make_item(session, agency, seq)
        await make_item(
            session,
            agency,
            4,
            power_type_code="10",
            power_type_raw="其他行政权力",
            local_code=code("10", "001"),
        )
        # A main item with two sub-items, printed as separate rows (common in spreadsheets).
        await make_item(session, agency, 5, local_code=code(main="005", sub="00Y"))
        await make_item(session, agency, 6, local_code=code(main="005", sub="001"))
        await make_item(session, agency, 7, local_code=code(main="005", sub="002"))
        # A sub-item printed on its main item's row: main code 00Y, sub-item code beside it.
        await make_item(
            session,
            agency,
            8,
            sub_item_name="子项一",
            local_code=code(main="008", sub="00Y"),
            sub_local_code=code(main="008", sub="001"),
        )
        # National-catalogue region, graded level and township level all fit a county agency.
        await make_item(session, agency, 9, local_code=code(main="009", region="00"))
        await make_item(session, agency, 10, local_code=code(main="010", level="7"))
        await make_item(session, agency, 11, local_code=code(main="011", level="5"))
        assert await runner.evaluate(session) == []

    async def test_empty_catalogue_has_no_issues(self, session: AsyncSession) -> None:
        assert await runner.evaluate(session) == []


class TestCodeShape:
    @pytest.mark.parametrize(
        ("bad", "problem"),
        [
            (code()[:-1], "code.length"),
            (code()[:5] + "I" + code()[6:], "code.alphabet"),
            (code()[:18] + "8" + code()[19:], "code.level"),
            (code()[:28] + "0Y0", "code.sub_item"),
        ],
        ids=["short", "letter-I", "level-8", "sub-0Y0"],
    )
    async def test_malformed_code_is_a_shape_error(
        self, session: AsyncSession, agency: Agency, bad: str, problem: str
    ) -> None:
        item = await make_item(session, agency, 1, local_code=bad)
        shape = fired(await runner.evaluate(session), rules.SHAPE)
        assert len(shape) == 1
        assert shape[0].severity == Severity.ERROR
        assert shape[0].field == "local_code"
        assert [x.id for x in shape[0].items] == [item.id]
        assert shape[0].details == {"problems": [problem]}

    async def test_wrong_check_digit_is_its_own_error(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        good = code()
        bad = good[:17] + ("4" if good[17] != "4" else "5") + good[18:]
        await make_item(session, agency, 1, local_code=bad)
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.CHECK_DIGIT, "local_code", (1,), bad)]
        assert issues[0].severity == Severity.ERROR

    async def test_bad_sub_item_code_is_checked_too(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(
            session,
            agency,
            1,
            sub_item_name="子项一",
            local_code=code(sub="00Y"),
            sub_local_code="123",
        )
        issues = await runner.evaluate(session)
        assert (rules.SHAPE, "sub_local_code", (1,), "123") in summary(issues)


class TestDuplicates:
    async def test_one_error_lists_every_item_sharing_the_code(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        shared = code(main="004")
        for seq in (4, 5, 6):
            await make_item(session, agency, seq, local_code=shared, name=f"事项{seq}")
        await make_item(session, agency, 7)
        issues = fired(await runner.evaluate(session), rules.DUPLICATE)
        assert summary(issues) == [(rules.DUPLICATE, "local_code", (4, 5, 6), shared)]
        assert "第4、5、6项" in issues[0].message

    async def test_withdrawn_items_do_not_count(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1)
        await make_item(session, agency, 2, local_code=code(), status=ItemStatus.WITHDRAWN)
        assert fired(await runner.evaluate(session), rules.DUPLICATE) == []

    async def test_same_main_code_with_different_sub_codes_is_no_duplicate(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        parent = code(sub="00Y")
        for seq, sub in ((1, "001"), (2, "002")):
            await make_item(
                session,
                agency,
                seq,
                sub_item_name=f"子项{seq}",
                local_code=parent,
                sub_local_code=code(sub=sub),
            )
        assert await runner.evaluate(session) == []


class TestCodeAgainstItem:
    async def test_type_segment_must_match_power_type(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, power_type_code="10", power_type_raw="其他行政权力")
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.TYPE_MISMATCH, "local_code", (1,), code())]
        assert issues[0].severity == Severity.ERROR

    async def test_city_level_code_in_a_county_agency_is_a_warning(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        bad = code(level="3")
        await make_item(session, agency, 1, local_code=bad)
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.LEVEL_MISMATCH, "local_code", (1,), bad)]
        assert issues[0].severity == Severity.WARNING

    async def test_level_follows_a_city_division(self, session: AsyncSession) -> None:
        city = await make_agency(session, "测试市医疗保障局", division="620900")
        credit17 = "11620900MB1765558"
        await make_item(session, city, 1, local_code=code(level="3", credit17=credit17))
        await make_item(session, city, 2, local_code=code(main="002", credit17=credit17))
        assert summary(await runner.evaluate(session)) == [
            (rules.LEVEL_MISMATCH, "local_code", (2,), code(main="002", credit17=credit17))
        ]

    async def test_without_agency_division_the_codes_own_division_decides(
        self, session: AsyncSession
    ) -> None:
        # codes.md: 11440300MB2D0722464440127028001 is level 4 under the city division 440300.
        other = await make_agency(session, "深圳某局", division=None)
        real = "11440300MB2D0722464440127028001"
        await make_item(
            session, other, 1, local_code=real, power_type_code="01", power_type_raw="行政许可"
        )
        issues = await runner.evaluate(session)
        assert (rules.LEVEL_MISMATCH, "local_code", (1,), real) in summary(issues)

    async def test_credit_code_of_another_division_is_a_warning(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        foreign = code(credit17="11620622MB1765558")
        await make_item(session, agency, 1, local_code=foreign)
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.DIVISION_MISMATCH, "local_code", (1,), foreign)]

    async def test_region_of_another_province_is_a_warning(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, local_code=code(region="44"))
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.REGION_MISMATCH, "local_code", (1,), code(region="44"))]

    async def test_medical_security_items_need_department_36(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, local_code=code(department="04"))
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.DEPARTMENT, "local_code", (1,), code(department="04"))]
        assert issues[0].severity == Severity.WARNING

    async def test_other_agencies_may_use_other_departments(self, session: AsyncSession) -> None:
        other = await make_agency(session, "民勤县市场监督管理局")
        await make_item(session, other, 1, local_code=code(department="04"))
        assert await runner.evaluate(session) == []


class TestSubItems:
    async def test_parent_without_children(self, session: AsyncSession, agency: Agency) -> None:
        parent = code(sub="00Y")
        await make_item(session, agency, 1, local_code=parent)
        assert summary(await runner.evaluate(session)) == [
            (rules.SUB_ITEM, "local_code", (1,), parent)
        ]

    async def test_children_without_parent_share_one_error(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, local_code=code(sub="001"))
        await make_item(session, agency, 2, local_code=code(sub="002"))
        issues = await runner.evaluate(session)
        assert summary(issues) == [
            (rules.SUB_ITEM, "local_code", (1, 2), codes.parent_prefix(code()) + "00Y")
        ]
        assert issues[0].severity == Severity.ERROR

    async def test_child_of_another_type_or_agency(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        other = await make_agency(session, "民勤县卫生健康局")
        await make_item(session, agency, 1, local_code=code(sub="00Y"))
        await make_item(
            session,
            agency,
            2,
            local_code=code(sub="001"),
            power_type_code="10",
            power_type_raw="其他行政权力",
        )
        await make_item(session, other, 3, local_code=code(sub="002"))
        issues = fired(await runner.evaluate(session), rules.SUB_ITEM)
        family = codes.parent_prefix(code())
        assert sorted((i.field, tuple(x.seq for x in i.items), i.value) for i in issues) == [
            ("agency", (1, 2, 3), family),
            ("power_type", (1, 2, 3), family),
        ]

    async def test_sub_code_beside_a_main_code_that_is_not_00Y(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(
            session,
            agency,
            1,
            sub_item_name="子项一",
            local_code=code(sub="000"),
            sub_local_code=code(sub="001", main="002"),
        )
        issues = fired(await runner.evaluate(session), rules.SUB_ITEM)
        assert summary(issues) == [
            (rules.SUB_ITEM, "sub_local_code", (1,), code(sub="001", main="002"))
        ]
        assert "00Y" in issues[0].message
        assert "前28位" in issues[0].message


class TestMainNumbers:
    async def test_one_number_on_two_different_main_codes(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, local_code=code(main="001"))
        await make_item(session, agency, 2, local_code=code(main="001", level="7"))
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.MAIN_NUMBER_REPEATED, "local_code", (1, 2), "001")]
        assert issues[0].severity == Severity.WARNING

    async def test_gaps_are_fine(self, session: AsyncSession, agency: Agency) -> None:
        await make_item(session, agency, 1, local_code=code(main="001"))
        await make_item(session, agency, 2, local_code=code(main="007"))
        assert await runner.evaluate(session) == []

    async def test_same_number_in_another_type_is_fine(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1)
        await make_item(
            session,
            agency,
            2,
            local_code=code("05"),
            power_type_code="05",
            power_type_raw="行政给付",
        )
        assert await runner.evaluate(session) == []


class TestItemFields:
    @pytest.mark.parametrize(
        "field",
        ["legal_basis", "responsibilities", "accountability", "exercising_body"],
    )
    async def test_missing_required_text_is_an_error(
        self, session: AsyncSession, agency: Agency, field: str
    ) -> None:
        await make_item(session, agency, 1, **{field: "  "})
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.MISSING_FIELD, field, (1,), None)]
        assert issues[0].severity == Severity.ERROR

    async def test_missing_name(self, session: AsyncSession, agency: Agency) -> None:
        await make_item(session, agency, 1, name="")
        assert summary(await runner.evaluate(session)) == [
            (rules.MISSING_FIELD, "name", (1,), None)
        ]

    async def test_unknown_power_type_label_counts_as_missing(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, power_type_code=None, power_type_raw="行政指导")
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.MISSING_FIELD, "power_type", (1,), "行政指导")]
        assert "行政指导" in issues[0].message

    async def test_no_code_is_a_warning(self, session: AsyncSession, agency: Agency) -> None:
        await make_item(session, agency, 1, local_code=None)
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.MISSING_CODE, "local_code", (1,), None)]
        assert issues[0].severity == Severity.WARNING

    async def test_sub_item_without_its_code_is_a_warning(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, local_code=code(sub="00Y"), sub_item_name="子项一")
        issues = await runner.evaluate(session)
        assert (rules.MISSING_CODE, "sub_local_code", (1,), None) in summary(issues)

    async def test_no_handling_unit_is_a_warning(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, handling_unit=None)
        issues = await runner.evaluate(session)
        assert summary(issues) == [
            (rules.MISSING_LEVEL_OR_HANDLING_UNIT, "handling_unit", (1,), None)
        ]
        assert issues[0].severity == Severity.WARNING

    async def test_nonstandard_label_is_info(self, session: AsyncSession, agency: Agency) -> None:
        await make_item(
            session,
            agency,
            1,
            local_code=code("06"),
            power_type_code="06",
            power_type_raw="行政监督",
        )
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.NONSTANDARD_LABEL, "power_type", (1,), "行政监督")]
        assert issues[0].severity == Severity.INFO
        assert "06 行政检查" in issues[0].message


class TestNamesAndCodes:
    async def test_same_name_with_two_codes(self, session: AsyncSession, agency: Agency) -> None:
        await make_item(session, agency, 1, name="医疗救助对象救助金给付")
        await make_item(session, agency, 2, name="医疗救助对象救助金给付")
        issues = await runner.evaluate(session)
        assert summary(issues) == [
            (rules.NAME_CODE_INCONSISTENT, "local_code", (1, 2), "医疗救助对象救助金给付")
        ]
        assert issues[0].severity == Severity.WARNING

    async def test_same_name_in_two_agencies_is_fine(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        other = await make_agency(session, "古浪县医疗保障局", division="620622")
        await make_item(session, agency, 1, name="医疗救助对象救助金给付")
        await make_item(
            session,
            other,
            1,
            name="医疗救助对象救助金给付",
            local_code=code(credit17="11620622MB1765558"),
        )
        assert await runner.evaluate(session) == []

    async def test_code_of_a_withdrawn_item_reused_under_another_name(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, name="旧事项", status=ItemStatus.WITHDRAWN)
        await make_item(session, agency, 2, name="新事项", local_code=code(main="001"))
        issues = await runner.evaluate(session)
        assert summary(issues) == [(rules.NAME_CODE_INCONSISTENT, "name", (1, 2), code())]

    async def test_withdrawing_one_of_items_sharing_a_code_is_no_reuse(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        shared = code(main="004")
        await make_item(session, agency, 4, name="事项甲", local_code=shared)
        await make_item(session, agency, 5, name="事项乙", local_code=shared)
        third = await make_item(session, agency, 6, name="事项丙", local_code=shared)
        third.status = ItemStatus.WITHDRAWN
        await session.flush()
        assert summary(await runner.evaluate(session)) == [
            (rules.DUPLICATE, "local_code", (4, 5), shared)
        ]

    async def test_withdrawn_and_active_under_the_same_name_is_fine(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, name="同一事项", status=ItemStatus.WITHDRAWN)
        await make_item(session, agency, 2, name="同一事项", local_code=code(main="001"))
        assert await runner.evaluate(session) == []


class TestAgencyScope:
    async def test_scope_keeps_the_agencys_issues_and_shared_groups(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        other = await make_agency(session, "古浪县医疗保障局", division="620622")
        other_credit = "11620622MB1765558"
        await make_item(session, agency, 1, handling_unit=None)
        await make_item(
            session, other, 1, handling_unit=None, local_code=code(credit17=other_credit)
        )
        # One code on items of both agencies: the duplicate belongs to both scopes.
        await make_item(session, agency, 9, local_code=code(main="009"))
        await make_item(session, other, 2, local_code=code(main="009"))
        mine = await runner.evaluate(session, agency_id=agency.id)
        assert [(i.rule, tuple(x.agency for x in i.items)) for i in mine] == [
            (rules.DUPLICATE, (AGENCY, "古浪县医疗保障局")),
            (rules.MISSING_LEVEL_OR_HANDLING_UNIT, (AGENCY,)),
        ]
        everything = await runner.evaluate(session)
        # The other agency's own issues: its missing handling unit, the 620621 credit code.
        assert {i.rule for i in everything} - {i.rule for i in mine} == {rules.DIVISION_MISMATCH}
        assert len(everything) == len(mine) + 2

    async def test_agency_by_name(self, session: AsyncSession, agency: Agency) -> None:
        assert (await reference.agency_by_name(session, AGENCY)).id == agency.id
        with pytest.raises(AgencyNotFoundError, match=r"^agency '不存在的部门' does not exist$"):
            await reference.agency_by_name(session, "不存在的部门")


# The full issue list of the two seed lists, in the runner's order (errors first, then by rule
# and list position): (rule, severity, field, (agency, 序号) of each item, value).
EXPECTED_SEED_ISSUES: list[tuple[str, str, str | None, tuple[tuple[str, int], ...], str | None]] = [
    (
        "code.duplicate",
        "error",
        "local_code",
        ((MINQIN_NAME, 4), (MINQIN_NAME, 5), (MINQIN_NAME, 6)),
        SHARED_CODE,
    ),
    *[
        ("item.missing_code", "warning", "local_code", ((DUNHUANG_NAME, n),), None)
        for n in range(1, 29)
    ],
    *[
        (
            "item.missing_level_or_handling_unit",
            "warning",
            "handling_unit",
            ((DUNHUANG_NAME, n),),
            None,
        )
        for n in range(1, 29)
    ],
    *[
        ("type.nonstandard_label", "info", "power_type", ((DUNHUANG_NAME, n),), "行政监督")
        for n in (17, 18, 19, 20)
    ],
]


class TestSeeds:
    """The two real lists: exactly what a person reading them would call wrong or noteworthy."""

    @pytest.fixture
    async def seeded(self, session: AsyncSession) -> None:
        await import_file(session, MINQIN)
        await import_file(session, DUNHUANG)

    @pytest.mark.usefixtures("seeded")
    async def test_the_full_issue_list(self, session: AsyncSession) -> None:
        issues = await runner.evaluate(session)
        got = [
            (i.rule, i.severity.value, i.field, tuple((x.agency, x.seq) for x in i.items), i.value)
            for i in issues
        ]
        assert got == EXPECTED_SEED_ISSUES
        assert runner.counts(issues).model_dump() == {"error": 1, "warning": 56, "info": 4}

    @pytest.mark.usefixtures("seeded")
    async def test_duplicate_is_exactly_items_4_5_6_of_minqin(self, session: AsyncSession) -> None:
        dup = fired(await runner.evaluate(session), rules.DUPLICATE)
        ids = (
            await session.scalars(
                select(Item.id)
                .join(Agency, Agency.id == Item.agency_id)
                .where(Agency.name == MINQIN_NAME, Item.seq.in_([4, 5, 6]))
                .order_by(Item.seq)
            )
        ).all()
        assert len(dup) == 1
        assert [x.id for x in dup[0].items] == list(ids)

    @pytest.mark.usefixtures("seeded")
    async def test_every_dunhuang_item_gets_a_missing_code_warning(
        self, session: AsyncSession
    ) -> None:
        dunhuang = (await reference.agency_by_name(session, DUNHUANG_NAME)).id
        missing = fired(await runner.evaluate(session, agency_id=dunhuang), rules.MISSING_CODE)
        total = await session.scalar(
            select(func.count()).select_from(Item).where(Item.agency_id == dunhuang)
        )
        assert len(missing) == total == 28


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


class TestSetBased:
    async def test_statement_count_does_not_grow_with_the_catalogue(
        self, session: AsyncSession, engine: AsyncEngine, agency: Agency
    ) -> None:
        async def statements_for(n: int) -> int:
            start = int(await session.scalar(select(func.coalesce(func.max(Item.seq), 0))) or 0)
            for seq in range(start + 1, start + n + 1):
                # All share one code and lack a handling unit: per-item and catalogue-wide
                # issues grow with n, the statements must not.
                await make_item(
                    session, agency, seq, local_code=code(main="900"), handling_unit=None
                )
            with counting_statements(engine) as statements:
                issues = await runner.evaluate(session)
            assert issues
            return len(statements)

        small, large = await statements_for(3), await statements_for(60)
        # One streamed pass plus one statement per catalogue-wide rule, whatever the size.
        assert small == large >= 6


class TestWriteScope:
    """`runner.evaluate_errors`, the check of API writes, agrees with a full run."""

    async def _broken_catalogue(self, session: AsyncSession, agency: Agency) -> None:
        await import_file(session, MINQIN)  # the 4-5-6 duplicate
        await make_item(session, agency, 1, local_code=code(main="101", sub="00Y"))  # no child
        await make_item(session, agency, 2, local_code=code(main="102", sub="001"))  # orphans
        await make_item(session, agency, 3, local_code=code(main="102", sub="002"))
        await make_item(session, agency, 4, local_code=code(main="103", sub="00Y"))
        await make_item(  # a child of another type
            session,
            agency,
            5,
            local_code=code(main="103", sub="001"),
            power_type_code="10",
            power_type_raw="其他行政权力",
        )
        await make_item(session, agency, 6, local_code=code(main="104")[:-1] + "X")  # shape
        await make_item(session, agency, 7, local_code="11620621MB176555844620236105000")
        await make_item(session, agency, 8, local_code=code(type_="10", main="106"))  # type
        await make_item(session, agency, 9, legal_basis="  ", local_code=code(main="107"))

    async def test_over_every_item_and_family_it_finds_every_error_of_a_full_run(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await self._broken_catalogue(session, agency)
        active = (
            await session.execute(select(Item).where(Item.status == ItemStatus.ACTIVE))
        ).scalars()
        ids, families = [], set()
        for item in active:
            ids.append(item.id)
            own = item.sub_local_code or item.local_code
            if own:
                families.add(sql.family_of(own))
        full = [i for i in await runner.evaluate(session) if i.severity == Severity.ERROR]
        assert {i.rule for i in full} == {
            rules.DUPLICATE,
            rules.SUB_ITEM,
            rules.SHAPE,
            rules.CHECK_DIGIT,
            rules.TYPE_MISMATCH,
            rules.MISSING_FIELD,
        }
        scoped = await runner.evaluate_errors(session, item_ids=ids, families=sorted(families))
        assert scoped == full

    async def test_only_the_given_items_and_families(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await self._broken_catalogue(session, agency)
        orphan_family = codes.parent_prefix(code(main="102"))
        item9 = await session.scalar(select(Item.id).where(Item.local_code == code(main="107")))
        assert item9 is not None
        scoped = await runner.evaluate_errors(session, item_ids=[item9], families=[orphan_family])
        assert summary(scoped) == [
            (rules.SUB_ITEM, "local_code", (2, 3), orphan_family + "00Y"),
            (rules.MISSING_FIELD, "legal_basis", (9,), None),
        ]

    async def test_statement_count_does_not_grow_with_the_catalogue(
        self, session: AsyncSession, engine: AsyncEngine, agency: Agency
    ) -> None:
        async def statements_for(n: int) -> int:
            start = int(await session.scalar(select(func.coalesce(func.max(Item.seq), 0))) or 0)
            for seq in range(start + 1, start + n + 1):
                await make_item(session, agency, seq, local_code=code(main="900"))
            ids = list((await session.scalars(select(Item.id))).all())
            with counting_statements(engine) as statements:
                issues = await runner.evaluate_errors(
                    session, item_ids=ids, families=[codes.parent_prefix(code(main="900"))]
                )
            assert issues
            return len(statements)

        assert await statements_for(3) == await statements_for(60) == 3


class TestRuns:
    async def test_run_stores_issues_with_stable_fingerprints(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, handling_unit=None)
        await make_item(session, agency, 2, local_code=code(main="001"))
        first = await runner.run(session, actor="test")
        second = await runner.run(session, actor="test")
        assert first.counts == second.counts == {"error": 1, "warning": 1, "info": 0}
        assert first.finished_at is not None

        async def prints(run_id: int) -> list[str]:
            stmt = select(ValidationIssue.fingerprint).where(ValidationIssue.run_id == run_id)
            return sorted((await session.scalars(stmt)).all())

        assert await prints(first.id) == await prints(second.id)
        assert len(set(await prints(first.id))) == 2

    async def test_run_for_an_unknown_agency_is_refused(self, session: AsyncSession) -> None:
        with pytest.raises(InvalidInputError):
            await runner.run(session, agency_id=999_999, actor="test")

    async def test_added_reports_only_new_problems(
        self, session: AsyncSession, agency: Agency
    ) -> None:
        await make_item(session, agency, 1, handling_unit=None)
        before = await runner.evaluate(session)
        await make_item(session, agency, 2, local_code=None)
        after = await runner.evaluate(session)
        assert summary(runner.added(before, after)) == [
            (rules.MISSING_CODE, "local_code", (2,), None)
        ]


# --- Pure rules (no database) -------------------------------------------------------------------


def facts(local_code: str | None, power_type: str = "02", **overrides: Any) -> ItemFacts:
    values: dict[str, Any] = {
        "id": 1,
        "seq": 1,
        "agency_id": 1,
        "agency": AGENCY,
        "agency_division": DIVISION,
        "agency_level": "4",
        "name": "事项",
        "sub_item_name": None,
        "power_type_code": power_type,
        "power_type_raw": codes.POWER_TYPES[power_type],
        "power_type_label": codes.POWER_TYPES[power_type],
        "local_code": local_code,
        "sub_local_code": None,
        "exercising_body": AGENCY,
        "handling_unit": "基金监管股",
        "has_legal_basis": True,
        "has_responsibilities": True,
        "has_accountability": True,
    }
    values.update(overrides)
    return ItemFacts(**values)


class TestPureRules:
    @given(
        type_=st.sampled_from(sorted(codes.ITEM_TYPES - {"20"})),
        main=st.integers(1, 999).map(lambda n: f"{n:03d}"),
        region=st.sampled_from(["00", "62"]),
        level=st.sampled_from(["4", "5", "6", "7"]),
    )
    def test_any_well_formed_code_that_fits_its_item_is_clean(
        self, type_: str, main: str, region: str, level: str
    ) -> None:
        valid = code(type_, main, level=level, region=region)
        assert rules.check_item(facts(valid, type_)) == []

    @given(raw=st.text(max_size=40))
    def test_any_text_as_code_is_judged_like_decode_does(self, raw: str) -> None:
        found = rules.check_item(facts(raw))
        if not raw.strip():
            assert [i.rule for i in found] == [rules.MISSING_CODE]
            return
        decoded = codes.decode(raw)
        shape = [p for p in decoded.problems if p.code != "code.check_digit"]
        assert any(i.rule == rules.SHAPE for i in found) == bool(shape)
        assert all(i.value == decoded.normalized for i in found if i.rule == rules.SHAPE)

    @given(st.lists(st.integers(1, 10_000), min_size=1, max_size=5, unique=True))
    def test_fingerprint_ignores_item_order(self, ids: list[int]) -> None:
        items = [rules.IssueItem(i, i, 1, AGENCY, "事项") for i in ids]
        a = rules.issue(rules.DUPLICATE, "x", field="local_code", items=items, value="C")
        b = rules.issue(rules.DUPLICATE, "y", field="local_code", items=items[::-1], value="C")
        assert a.fingerprint == b.fingerprint
        c = rules.issue(rules.DUPLICATE, "x", field="local_code", items=items, value="D")
        assert c.fingerprint != a.fingerprint

    @given(
        agency_level=st.sampled_from(sorted(codes.EXERCISE_LEVELS)),
        level=st.sampled_from("1234567"),
    )
    def test_recorded_agency_level_is_used_without_a_division(
        self, agency_level: str, level: str
    ) -> None:
        found = rules.check_item(
            facts(code(level=level), agency_division=None, agency_level=agency_level)
        )
        fits = (
            level == "7"
            or agency_level in {"7", level}
            or (agency_level, level)
            in {
                ("4", "5"),
                ("4", "6"),
            }
        )
        assert [i.rule for i in found] == ([] if fits else [rules.LEVEL_MISMATCH])

    @pytest.mark.parametrize(
        ("division", "level"),
        [("620000", "2"), ("620900", "3"), ("620621", "4"), ("620982", "4"), ("110105", "4")],
    )
    def test_level_of_division(self, division: str, level: str) -> None:
        assert rules.level_of_division(division) == level

    def test_every_rule_is_documented(self) -> None:
        ids = [r.id for r in rules.RULES]
        assert len(ids) == len(set(ids))
        assert {r.check for r in rules.RULES if r.check} == set(range(1, 14))
        assert all(r.title and r.explanation and r.fix for r in rules.RULES)
