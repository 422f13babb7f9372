"""Tests of the PDF-table text parser: the Dunhuang seed, and round trips through a renderer."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportFormatError
from app.services.importers.pdf_text import (
    POWER_TYPE_LABELS,
    looks_like_pdf_text,
    parse_pdf_text,
)
from app.services.importers.records import ParseResult
from tests.pdf_render import SEED_WIDTHS, PdfLayout, render

SEED_DIR = Path(__file__).parents[2] / "seed"
DUNHUANG = SEED_DIR / "dunhuang-medical-security.pdf.txt"
MINQIN = SEED_DIR / "minqin-medical-security.tsv.txt"


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def width(text: str) -> int:
    """Display width, full-width characters counting 2."""
    wide = {"W", "F", "A"}
    return sum(2 if unicodedata.east_asian_width(ch) in wide else 1 for ch in compact(text))


# --- The Dunhuang seed -----------------------------------------------------------------------

# 事项名称 and 权力类型 of the 28 items, as a person reads them in the file.
SEED_ITEMS: list[tuple[str, str]] = [
    (
        "对医疗保险经办机构以及医疗机构、药品经营单位等社会保险服务机构以欺诈、伪造证明材料"
        "或者其他手段骗取医疗保险、生育保险待遇或基金支出的处罚",
        "行政处罚",
    ),
    (
        "对缴费单位未按规定办理医疗保险、生育保险登记、变更登记或者注销登记、未按规定申报"
        "应缴纳数额或者未按时足额缴纳职工医疗保险费、生育保险费的处罚",
        "行政处罚",
    ),
    (
        "对缴费单位伪造、变造医疗保险、生育保险登记证、未按规定从缴费个人工资中代扣代缴"
        "社会保险费、未按规定向职工公布本单位医疗、生育保险费缴纳情况的处罚",
        "行政处罚",
    ),
    ("对隐匿、转移、侵占、挪用医疗保险、生育保险基金或者违规投资运营的处罚", "行政处罚"),
    (
        "对缴费单位违法伪造、编造、故意毁灭有关账册、材料或者不设账册，致使企业职工医疗"
        "保险费、生育保险费缴费基数无法确定或延迟缴纳的处罚",
        "行政处罚",
    ),
    (
        "监督检查医疗保险基金的收支、管理和投资运营中，对可能被转移、隐匿或者灭失的资料予以封存",
        "行政强制",
    ),
    ("医疗保险、生育保险征收", "行政征收"),
    ("市本级医疗保险、生育保险待遇结算和支付", "行政给付"),
    ("医疗救助对象救助金给付", "行政给付"),
    ("特殊疾病门诊医疗费待遇支付", "行政给付"),
    ("医疗救助申请审核", "行政给付"),
    ("参保单位参加医疗保障登记及缴费基数核定", "行政确认"),
    ("缓缴医疗保险费、生育保险费审核", "行政确认"),
    ("低保、特困等困难群众医疗救助", "行政确认"),
    ("基本医疗保险定点医疗机构、定点零售药店资格审查", "行政确认"),
    ("对欺诈骗取医疗保障基金举报行为的奖励", "行政奖励"),
    ("医疗保险基金、生育保险基金监督管理", "行政监督"),
    ("对纳入医保支付范围的医疗服务行为和医疗费用及医保经办业务开展监督检查", "行政监督"),
    ("对定点医疗机构医疗服务项目价格执行情况监管", "行政监督"),
    (
        "对企业缴纳职工医疗保险费、生育保险费的稽核检查和医疗保险、生育保险待遇领取情况的稽核检查",
        "行政监督",
    ),
    ("城乡居民医疗保险受理", "其他行政权力"),
    ("本级城镇职工转外就医和异地就医及门诊慢性特殊疾病确定补助对象", "其他行政权力"),
    (
        "用人单位及职工、灵活就业人员、个体工商户、自由职业者个人参加医疗保险登记、续保",
        "其他行政权力",
    ),
    ("对医疗机构、药品生产经营企业在药品交易过程中发生的各种不诚信行为的监管", "其他行政权力"),
    ("医疗保险基金预算决算草案编制及审核", "其他行政权力"),
    ("对优抚对象医疗保险参保进行转移接续、补缴核定", "其他行政权力"),
    ("城乡居民医保参保登记", "其他行政权力"),
    ("公务员医疗补助", "其他行政权力"),
]

# Per item, counted in the file: lines of 实施依据, 责任事项内容 and 追责情形, and how the
# 责任事项内容 and 追责情形 cells begin. Exact counts mean no line strayed into a neighbour.
SEED_CELLS: list[tuple[int, int, int, str, str]] = [
    (34, 29, 24, "1.立案阶段", "因不履行或不"),
    (12, 31, 37, "1.立案阶段", "因不履行或不"),
    (11, 31, 32, "1.立案阶段", "1.没有法律"),
    (7, 9, 10, "1.执行省市", "1.《社会保"),
    (13, 6, 18, "负责对本级违", "1.《监察法"),
    (13, 8, 15, "直接实施责任", "《医疗保障基"),
    (8, 16, 25, "1.受理阶段", "因不履行或不"),
    (8, 16, 25, "1.受理阶段", "因不履行或不"),
    (7, 6, 13, "救助责任：对", "因不履行或不"),
    (6, 14, 13, "监督责任：医", "因不履行或不"),
    (3, 14, 13, "监督责任：医", "因不履行或不"),
    (13, 7, 19, "1.起始阶段", "因不履行或不"),
    (6, 10, 10, "1.根据省级", "1.《社会保"),
    (13, 7, 19, "经申请符合条", "因不履行或不"),
    (14, 17, 24, "1、受理阶段", "因不履行或不"),
    (11, 8, 23, "1.受理阶段", "《酒泉市违法"),
    (22, 5, 18, "医疗保障部门", "1.《社会保"),
    (13, 12, 15, "直接实施责任", "《医疗保障基"),
    (9, 11, 15, "1.做好医疗", "《中华人民共"),
    (2, 10, 9, "直接实施责任", "《社会保险稽"),
    (3, 3, 9, "负责本行政区", "《社会保险稽"),
    (5, 8, 12, "1.受理阶段", "因不履行或不"),
    (13, 9, 14, "1、受理阶段", "因不履行或不"),
    (11, 25, 14, "1.不诚信行", "因不履行或不"),
    (23, 20, 20, "1、数据收集", "因不履行或不"),
    (3, 11, 13, "1.受理阶段", "因不履行或不"),
    (4, 3, 13, "负责本行政区", "因不履行或不"),
    (11, 15, 13, "公务员医疗补", "因不履行或不"),
]

_WIDE = ("legal_basis", "responsibilities", "accountability")

# Column widths of the file in display units (a CJK character is 2): 责任事项内容 17
# characters, 追责情形 10, with a character's slack for half-width digits.
RESPONSIBILITIES_WIDTH = 36
ACCOUNTABILITY_WIDTH = 22


@pytest.fixture(scope="module")
def seed() -> ParseResult:
    return parse_pdf_text(DUNHUANG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seed_lines() -> list[str]:
    return DUNHUANG.read_text(encoding="utf-8").split("\n")


def test_seed_title(seed: ParseResult) -> None:
    assert seed.title == "敦煌市医疗保障局权责清单"


def test_seed_has_28_items_in_order(seed: ParseResult) -> None:
    assert [item.seq for item in seed.items] == list(range(1, 29))


@pytest.mark.parametrize("seq", range(1, 29))
def test_seed_item_name_type_and_body(seed: ParseResult, seq: int) -> None:
    cells = seed.items[seq - 1].cells
    name, power_type = SEED_ITEMS[seq - 1]
    assert compact(cells["name"]) == name
    assert compact(cells["power_type"]) == power_type
    assert compact(cells["exercising_body"]) == "敦煌市医疗保障局"


@pytest.mark.parametrize("seq", range(1, 29))
def test_seed_wide_cells_do_not_leak(seed: ParseResult, seq: int) -> None:
    cells = seed.items[seq - 1].cells
    legal, duties, blame = (cells[f].split("\n") for f in _WIDE)
    n_legal, n_duties, n_blame, duties_start, blame_start = SEED_CELLS[seq - 1]
    assert (len(legal), len(duties), len(blame)) == (n_legal, n_duties, n_blame)
    assert compact(duties[0]).startswith(duties_start)
    assert compact(blame[0]).startswith(blame_start)
    # 实施依据 opens with a citation and cites a law; its long lines never reach the narrower
    # columns, whose every line fits their width; 追责情形 names liabilities or lists cases.
    assert re.match(r"1[.、]|【|《", compact(legal[0]))
    assert "《" in cells["legal_basis"]
    assert max(map(width, duties)) <= RESPONSIBILITIES_WIDTH
    assert max(map(width, blame)) <= ACCOUNTABILITY_WIDTH
    assert re.search("责任|处分|追责|的；", compact(cells["accountability"]))


def test_seed_has_no_sub_items_or_remarks(seed: ParseResult) -> None:
    assert all(
        set(item.cells) == {"name", "power_type", "exercising_body", *_WIDE} for item in seed.items
    )


def test_seed_keeps_nonstandard_label(seed: ParseResult) -> None:
    supervision = [
        item.seq for item in seed.items if compact(item.cells["power_type"]) == "行政监督"
    ]
    assert supervision == [17, 18, 19, 20]


def test_seed_cells_keep_source_lines(seed: ParseResult, seed_lines: list[str]) -> None:
    """Cells are source lines joined with newlines, in source order, inside the item's range."""
    for item in seed.items:
        span = seed_lines[item.line - 1 : item.line_end]
        assert compact(span[0]) == str(item.seq)
        for cell in item.cells.values():
            at = 0
            for line in cell.split("\n"):
                at = span.index(line, at) + 1  # ValueError if not found in order
    assert seed.items[3].cells["exercising_body"] == "敦 煌 市\n医 疗 保\n障局"


def test_seed_item_10_is_kept_once_with_a_warning(seed: ParseResult) -> None:
    assert [item.seq for item in seed.items].count(10) == 1
    assert (seed.items[9].line, seed.items[9].line_end) == (1406, 1492)
    repeats = [p for p in seed.problems if p.code == "import.repeated_row"]
    assert len(repeats) == 1
    problem = repeats[0]
    assert problem.severity == "warning"
    assert (problem.line, problem.line_end) == (1493, 1579)
    for number in ("1406", "1492", "1493", "1579"):
        assert number in problem.message
    assert [p.code for p in seed.problems] == ["import.repeated_row"]


def test_seed_pages_follow_the_printed_headers(seed: ParseResult) -> None:
    pages = [item.page or 0 for item in seed.items]
    assert pages[0] == 1
    assert pages == sorted(pages)
    assert (seed.items[2].page, seed.items[27].page) == (2, 11)


def test_seed_is_recognised() -> None:
    assert looks_like_pdf_text(DUNHUANG.read_text(encoding="utf-8"))


# --- Bad input ---------------------------------------------------------------------------------

RANDOM_TEXT = "今天天气很好。\n我们去公园散步，\n然后回家吃饭。\n3\n明天再说吧。\n"


def test_tsv_is_not_pdf_text() -> None:
    text = MINQIN.read_text(encoding="utf-8")
    assert not looks_like_pdf_text(text)
    with pytest.raises(ImportFormatError):
        parse_pdf_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n  \n",
        RANDOM_TEXT,
        "序\n号\n事项\n名称\n权力\n类型\n实施依据 责任事项内容 追责情形\n",
        "序号\t事项名称\t权力类型\t实施依据\n1\t对某事的处罚\t行政处罚\t《某法》\n",
    ],
    ids=["empty", "blank", "prose", "header-without-rows", "tab-separated"],
)
def test_bad_input_raises(text: str) -> None:
    assert not looks_like_pdf_text(text)
    with pytest.raises(ImportFormatError) as caught:
        parse_pdf_text(text)
    assert caught.value.code == "import.bad_format"


# --- Round trips through the renderer ----------------------------------------------------------

CHARS = (
    "医疗保障基金使用监督管理条例社会保险法对用人单位缴费个人待遇支付审核登记变更注销申报办理"
    "机构定点药店服务协议违规行为处罚检查确认救助奖励举报核查资料材料程序依法责令改正退回罚款"
    "情形人员工作职责履行决定告知听证送达执行部门财政税务统筹方案通知意见"
)
BODIES = ("某市医疗保障局", "某县人力资源和社会保障局", "某区卫生健康委员会")
LABELS = sorted(POWER_TYPE_LABELS - {"行政权力事项"})
PREAMBLE = "因不履行或不正确履行行政职责，有下列情形的，行政机关及相关工作人员应承担相应责任："

# Layouts of other agencies' lists: widths in characters per column, not all ordered like the
# seed's (in ACCOUNTABILITY_WIDE, 追责情形 is wider than 责任事项内容).
SEED_LIKE = dict(SEED_WIDTHS)
WIDE_WITH_REMARKS = {
    "seq": 2,
    "name": 5,
    "power_type": 4,
    "exercising_body": 6,
    "legal_basis": 40,
    "responsibilities": 24,
    "accountability": 12,
    "remarks": 8,
}
WITH_SUB_ITEMS = {
    "seq": 1,
    "name": 4,
    "sub_item_name": 6,
    "power_type": 3,
    "exercising_body": 5,
    "legal_basis": 30,
    "responsibilities": 20,
    "accountability": 14,
}
ACCOUNTABILITY_WIDE = {
    "seq": 1,
    "name": 3,
    "power_type": 2,
    "exercising_body": 4,
    "legal_basis": 24,
    "responsibilities": 14,
    "accountability": 20,
    "remarks": 3,
}
LAYOUTS = {
    "seed-like": SEED_LIKE,
    "wide-with-remarks": WIDE_WITH_REMARKS,
    "with-sub-items": WITH_SUB_ITEMS,
    "accountability-wide": ACCOUNTABILITY_WIDE,
}
# Optional columns filled in each layout. The seed's sub-item column is as wide as its name
# column, so a sub-item there could not be told from the name's last lines: it stays empty,
# as in the seed.
OPTIONAL: dict[tuple[str, ...], tuple[str, ...]] = {
    tuple(WIDE_WITH_REMARKS): ("remarks",),
    tuple(WITH_SUB_ITEMS): ("sub_item_name",),
    tuple(ACCOUNTABILITY_WIDE): ("remarks",),
}


def cjk(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.sampled_from(CHARS), min_size=min_size, max_size=max_size)


@st.composite
def numbered(draw: st.DrawFn, make: st.SearchStrategy[str], least: int, most: int) -> str:
    """Paragraphs `1.…` `2.…`, each starting a line of the cell."""
    count = draw(st.integers(least, most))
    return "\n".join(f"{n}.{draw(make)}" for n in range(1, count + 1))


@st.composite
def power_item(draw: st.DrawFn, widths: Mapping[str, int], body: str) -> dict[str, str]:
    """One item as an agency would print it: cells long enough to wrap, as in published lists
    (widths are measured from wrapped lines), optional cells (sub-item, remarks) of two lines
    at least and filled in most rows."""
    law = st.builds("《{}》第{}条：{}。".format, cjk(3, 12), st.integers(1, 120), cjk(40, 160))
    duty = st.builds("{}阶段责任：{}。".format, cjk(2, 4), cjk(12, 80))
    blame = st.builds("{}的；".format, cjk(8, 40))
    # Most lists open 追责情形 with this preamble: it wraps in every layout.
    preamble = draw(st.sampled_from([PREAMBLE + "\n", PREAMBLE + "\n", ""]))
    item = {
        "name": "对" + draw(cjk(4, 40)) + "的" + draw(st.sampled_from(["处罚", "检查", "确认"])),
        "power_type": draw(st.sampled_from(LABELS)),
        "exercising_body": body,
        "legal_basis": draw(numbered(law, 1, 4)),
        "responsibilities": draw(numbered(duty, 2, 6)),
        "accountability": preamble + draw(numbered(blame, 2, 5)),
    }
    for optional in OPTIONAL.get(tuple(widths), ()):
        if draw(st.integers(0, 9)) < 8:
            size = widths[optional]
            item[optional] = draw(cjk(size + 1, 3 * size)) + "。"
    return item


@st.composite
def power_list(draw: st.DrawFn, widths: Mapping[str, int]) -> list[dict[str, str]]:
    """Five to ten items: widths are measured from the data, so a list needs a few rows."""
    body = draw(st.sampled_from(BODIES))
    return draw(st.lists(power_item(widths, body), min_size=5, max_size=10))


def layout_for(widths: Mapping[str, int]) -> st.SearchStrategy[PdfLayout]:
    return st.builds(
        PdfLayout,
        widths=st.just(widths),
        page_lines=st.integers(25, 90),
        repeat_cut_rows=st.booleans(),
        letter_spaced=st.just(frozenset({"name", "exercising_body"})),
        page_numbers=st.booleans(),
        partial_headers=st.booleans(),
        seed=st.integers(0, 2**16),
    )


def assert_round_trip(items: list[dict[str, str]], layout: PdfLayout) -> ParseResult:
    text = render(items, layout)
    assert looks_like_pdf_text(text)
    result = parse_pdf_text(text)
    assert [item.seq for item in result.items] == list(range(1, len(items) + 1))
    for got, expected in zip(result.items, items, strict=True):
        parsed = {field: compact(cell) for field, cell in got.cells.items()}
        assert parsed == {field: compact(cell) for field, cell in expected.items()}, got.seq
    assert result.title == layout.title
    return result


@pytest.mark.parametrize("name", list(LAYOUTS))
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_round_trip(name: str, data: st.DataObject) -> None:
    widths = LAYOUTS[name]
    items = data.draw(power_list(widths), label="items")
    layout = data.draw(layout_for(widths), label="layout")
    assert_round_trip(items, layout)


# Hand-written items, for the layouts and page breaks that matter most.
HAND_ITEMS: list[dict[str, str]] = [
    {
        "name": "对定点医药机构违反服务协议骗取医疗保障基金支出的处罚",
        "power_type": "行政处罚",
        "exercising_body": "某市医疗保障局",
        "legal_basis": (
            "1.《医疗保障基金使用监督管理条例》第四十条：定点医药机构通过下列方式骗取医疗保障"
            "基金支出的，由医疗保障行政部门责令退回，处骗取金额2倍以上5倍以下的罚款。\n"
            "2.《中华人民共和国社会保险法》第八十七条：社会保险经办机构以及医疗机构、药品经营"
            "单位等社会保险服务机构以欺诈、伪造证明材料或者其他手段骗取社会保险基金支出的，"
            "由社会保险行政部门责令退回骗取的社会保险金。"
        ),
        "responsibilities": (
            "1.立案阶段责任：发现违法行为的予以调查立案。\n"
            "2.调查阶段责任：指定专人负责，及时组织调查取证，与当事人有直接利害关系的应当回避。\n"
            "3.决定阶段责任：制作行政处罚决定书，载明行政处罚告知、当事人陈述申辩情况。"
        ),
        "accountability": PREAMBLE + "\n1.没有法律和事实依据实施行政处罚的；\n"
        "2.违反法定的行政处罚程序的；\n3.擅自改变行政处罚种类、幅度的。",
    },
    {
        "name": "医疗救助对象救助金给付",
        "power_type": "行政给付",
        "exercising_body": "某市医疗保障局",
        "legal_basis": "1.《社会救助暂行办法》第二十七条：国家建立健全医疗救助制度，保障医疗救助"
        "对象获得基本医疗卫生服务。",
        "responsibilities": "救助责任：对民政部门审核确认的医疗救助对象，及时按政策给予医疗救助。\n"
        "保密责任：履行医疗救助职责的工作人员对在医疗救助工作中知悉的公民个人信息予以保密。",
        "accountability": PREAMBLE + "\n1.对符合条件不予受理的；\n2.违反规定审批的；",
    },
    {
        "name": "对纳入医保支付范围的医疗服务行为和医疗费用开展监督检查",
        "power_type": "行政监督",
        "exercising_body": "某市医疗保障局",
        "legal_basis": "1.《医疗保障基金使用监督管理条例》第二十二条：医疗保障行政部门应当加强对"
        "纳入医疗保障基金支付范围的医疗服务行为和医疗费用的监督，依法查处违法使用医疗保障基金"
        "的行为。",
        "responsibilities": "1.制定年度监督检查计划，开展“双随机、一公开”检查，通过飞行检查、日常"
        "检查等多种方式开展监督检查。\n2.加强与相关主管部门的沟通协调，开展联合检查。",
        "accountability": "《医疗保障基金使用监督管理条例》第四十七条：医疗保障等行政部门工作人员"
        "在医疗保障基金使用监督管理工作中滥用职权、玩忽职守、徇私舞弊的，依法给予处分。",
    },
    {
        "name": "城乡居民医保参保登记",
        "power_type": "行政备案",
        "exercising_body": "某市医疗保障局",
        "legal_basis": "【规范性文件】\n1.某市人民政府办公室《关于印发城乡居民基本医疗保险实施"
        "办法的通知》（某政办发〔2017〕219号）",
        "responsibilities": "负责本行政区域内城乡居民基本医疗保险扩面、参保登记、缴费标准执行、"
        "待遇支付工作。",
        "accountability": PREAMBLE + "\n1.对符合条件不予受理的；\n2.违反规定审批的；\n"
        "3.其他违反法律法规规章规定的行为。",
    },
    {
        "name": "公务员医疗补助",
        "power_type": "其他行政权力",
        "exercising_body": "某市医疗保障局",
        "legal_basis": "1.《国务院办公厅转发劳动保障部、财政部关于实行国家公务员医疗补助意见的"
        "通知》（国办发〔2000〕37号）\n2.《关于调整规范公务员医疗补助的通知》（某医保发"
        "〔2021〕155号）",
        "responsibilities": "公务员医疗补助资金由同级财政列入预算，与职工基本医疗保险基金分账核算，"
        "专户管理，专款专用。\n医疗保障经办机构负责公务员医疗补助参保登记、基数核定等经办工作。",
        "accountability": PREAMBLE + "\n1.对符合条件不予受理的；\n2.违反规定审批的；",
    },
]


@pytest.mark.parametrize("page_lines", [30, 41, 57, 200])
@pytest.mark.parametrize("repeat", [False, True], ids=["continued", "reprinted"])
def test_hand_written_items_across_page_breaks(page_lines: int, repeat: bool) -> None:
    layout = PdfLayout(
        page_lines=page_lines,
        repeat_cut_rows=repeat,
        letter_spaced=frozenset({"name", "exercising_body"}),
        page_numbers=True,
        seed=page_lines,
    )
    assert_round_trip(HAND_ITEMS * 2, layout)


def test_reprinted_row_is_kept_whole_once() -> None:
    """A row cut by a page break and printed again whole: one item, the whole printing."""
    layout = PdfLayout(page_lines=45, repeat_cut_rows=True, seed=3)
    text = render(HAND_ITEMS, layout)
    result = assert_round_trip(HAND_ITEMS, layout)
    repeats = [p for p in result.problems if p.code == "import.repeated_row"]
    assert repeats, "the layout should cut a row"
    for problem in repeats:
        # The reprint is the whole row: it is the one kept, the range the warning points at.
        kept = [(item.line, item.line_end) for item in result.items]
        assert (problem.line, problem.line_end) in kept
        assert f"{problem.line}–{problem.line_end}" in problem.message
        assert text.split("\n")[(problem.line or 0) - 1].strip().isdigit()


def test_row_printed_twice_in_a_row_like_the_seed() -> None:
    layout = PdfLayout(page_lines=500, reprint=frozenset({2}), seq_space=1.0)
    result = assert_round_trip(HAND_ITEMS, layout)
    assert [p.code for p in result.problems] == ["import.repeated_row"]


def test_other_column_titles() -> None:
    titles = {
        "seq": "序号",
        "name": "权力事项名称",
        "power_type": "职权类型",
        "exercising_body": "实施主体",
        "legal_basis": "设定依据",
        "responsibilities": "责任事项",
        "accountability": "追责情形及依据",
    }
    widths = {field: WIDE_WITH_REMARKS[field] for field in titles}
    layout = PdfLayout(widths=widths, titles=titles, page_lines=40, title=None)
    assert_round_trip(HAND_ITEMS * 2, layout)


def test_gap_in_numbering_is_reported() -> None:
    lines = render(HAND_ITEMS, PdfLayout(page_lines=500, seq_space=0.0)).split("\n")
    # Number rows 1, 2, 4, 5, 6: a list that skipped a number.
    renumbered = [str(int(line) + 1) if line in {"3", "4", "5"} else line for line in lines]
    result = parse_pdf_text("\n".join(renumbered))
    assert [item.seq for item in result.items] == [1, 2, 4, 5, 6]
    assert [p.code for p in result.problems] == ["import.seq_gap"]
    assert compact(result.items[2].cells["name"]) == compact(HAND_ITEMS[2]["name"])
