"""Unit tests of the TSV list parser on the Minqin seed and on inline layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ImportFormatError
from app.services.importers.records import ITEM_FIELDS, ParseResult
from app.services.importers.tsv import looks_like_tsv, parse_tsv

SEED = Path(__file__).parents[2] / "seed"
MINQIN = SEED / "minqin-medical-security.tsv.txt"
DUNHUANG = SEED / "dunhuang-medical-security.pdf.txt"

HEADER = "\t".join(
    [
        "序号",
        "事项名称",
        "子项名称",
        "权力类型",
        "地方权力编码",
        "子项地方权力编码",
        "行使主体",
        "承办机构",
        "实施依据",
        "责任事项内容",
        "追责情形",
        "备注",
    ]
)
CODE = "11620621MB176555834620236001000"


def _row(seq: str, name: str = "对某事项的处罚", *, remarks: str | None = None) -> str:
    fields = [
        seq,
        name,
        "",
        "行政处罚",
        CODE,
        "",
        "民勤县医疗保障局",
        "基金监管股",
        "《中华人民共和国社会保险法》第八十七条",
        "1.立案阶段责任",
        "1.没有法律依据的",
    ]
    if remarks is not None:
        fields.append(remarks)
    return "\t".join(fields)


@pytest.fixture(scope="module")
def minqin() -> ParseResult:
    return parse_tsv(MINQIN.read_text(encoding="utf-8"))


class TestParseTsvMinqinSeed:
    def test_seed_gives_nine_items_numbered_one_to_nine(self, minqin: ParseResult) -> None:
        assert [item.seq for item in minqin.items] == list(range(1, 10))

    def test_seed_has_no_problems(self, minqin: ParseResult) -> None:
        assert minqin.problems == []

    def test_codes_are_as_printed_including_the_duplicate(self, minqin: ParseResult) -> None:
        assert [item.cells["local_code"] for item in minqin.items] == [
            "11620621MB176555834620236001000",
            "11620621MB176555834620536001000",
            "11620621MB176555834620836001000",
            "11620621MB176555834621036001000",
            "11620621MB176555834621036001000",
            "11620621MB176555834621036001000",
            "11620621MB176555834621036002000",
            "11620621MB176555834621036003000",
            "11620621MB176555834621036004000",
        ]

    def test_power_types_are_as_printed(self, minqin: ParseResult) -> None:
        assert [item.cells["power_type"] for item in minqin.items] == [
            "行政处罚",
            "行政给付",
            "行政奖励",
            *["其他行政权力"] * 6,
        ]

    def test_exercising_body_and_handling_unit_are_filled(self, minqin: ParseResult) -> None:
        assert {item.cells["exercising_body"] for item in minqin.items} == {"民勤县医疗保障局"}
        assert [item.cells["handling_unit"] for item in minqin.items] == [
            "基金监管股",
            "待遇保障股",
            "基金监管股",
            "待遇保障股",
            "医药管理股",
            "医药管理股",
            "待遇保障股",
            "待遇保障股",
            "待遇保障股",
        ]

    def test_line_numbers_point_at_the_data_rows(self, minqin: ParseResult) -> None:
        lines = MINQIN.read_text(encoding="utf-8").split("\n")
        assert [item.line for item in minqin.items] == [4, 7, 10, 13, 16, 19, 22, 25, 28]
        for item in minqin.items:
            assert item.line_end == item.line
            assert lines[item.line - 1].startswith(f"{item.seq}\t")

    def test_empty_sub_item_columns_and_remarks_are_absent(self, minqin: ParseResult) -> None:
        for item in minqin.items:
            assert set(item.cells) == set(ITEM_FIELDS) - {
                "sub_item_name",
                "sub_local_code",
                "remarks",
            }

    def test_cells_keep_their_raw_text(self, minqin: ParseResult) -> None:
        item = minqin.items[1]
        assert item.cells["name"] == "对医疗救助对象救助金的给付"
        assert item.cells["legal_basis"].startswith("<p>1. 《社会救助暂行办法》")
        assert item.cells["accountability"].endswith("其他违反法律法规规章规定的行为。</p>")
        assert minqin.items[0].cells["legal_basis"].startswith("《中华人民共和国社会保险法》(2011")

    def test_items_keep_no_page(self, minqin: ParseResult) -> None:
        assert all(item.page is None for item in minqin.items)


class TestLooksLikeTsv:
    def test_minqin_seed_is_recognised(self) -> None:
        assert looks_like_tsv(MINQIN.read_text(encoding="utf-8"))

    def test_pdf_text_is_not_recognised(self) -> None:
        assert not looks_like_tsv(DUNHUANG.read_text(encoding="utf-8"))

    def test_header_after_a_title_and_bom_is_recognised(self) -> None:
        assert looks_like_tsv("\ufeff民勤县医疗保障局权责清单\r\n\r\n" + HEADER + "\r\n")

    @pytest.mark.parametrize(
        "text",
        ["", "序号 事项名称 权力类型", "a\tb\tc\n1\t2\t3", "序号\t事项名称\n1\t某事项"],
    )
    def test_other_text_is_not_recognised(self, text: str) -> None:
        assert not looks_like_tsv(text)


class TestParseTsvLayouts:
    def test_repeated_headers_and_blank_lines_give_every_item(self) -> None:
        text = "\n\n" + HEADER + "\n" + _row("1") + "\n\n" + HEADER + "\n" + _row("2") + "\n\n"
        result = parse_tsv(text)
        assert [(item.seq, item.line) for item in result.items] == [(1, 4), (2, 7)]
        assert result.problems == []

    def test_twelve_field_row_keeps_remarks(self) -> None:
        result = parse_tsv(HEADER + "\n" + _row("1", remarks="已调整") + "\n")
        assert result.items[0].cells["remarks"] == "已调整"

    def test_eleven_field_row_has_no_remarks(self) -> None:
        result = parse_tsv(HEADER + "\n" + _row("1") + "\n")
        assert "remarks" not in result.items[0].cells
        assert result.items[0].cells["accountability"] == "1.没有法律依据的"

    def test_extra_empty_trailing_fields_are_accepted(self) -> None:
        result = parse_tsv(HEADER + "\n" + _row("1", remarks="") + "\t\t\n")
        assert len(result.items) == 1
        assert result.problems == []

    def test_bad_row_is_reported_and_skipped(self) -> None:
        text = HEADER + "\n" + _row("1") + "\n" + "2\t只有三列\t行政处罚" + "\n" + _row("3") + "\n"
        result = parse_tsv(text)
        assert [item.seq for item in result.items] == [1, 3]
        assert len(result.problems) == 1
        problem = result.problems[0]
        assert (problem.code, problem.severity, problem.line) == ("import.bad_row", "error", 3)

    def test_row_with_extra_filled_field_is_a_bad_row(self) -> None:
        result = parse_tsv(HEADER + "\n" + _row("1", remarks="备注") + "\t多余" + "\n")
        assert result.items == []
        assert [p.code for p in result.problems] == ["import.bad_row"]

    def test_header_less_file_raises_import_format_error(self) -> None:
        with pytest.raises(ImportFormatError) as caught:
            parse_tsv(_row("1") + "\n" + _row("2") + "\n")
        assert caught.value.code == "import.bad_format"
        assert caught.value.message

    def test_empty_file_raises_import_format_error(self) -> None:
        with pytest.raises(ImportFormatError):
            parse_tsv("")

    def test_crlf_line_ends_are_not_kept_in_cells(self) -> None:
        text = "\r\n" + HEADER + "\r\n" + _row("1", remarks="备注") + "\r\n"
        item = parse_tsv(text).items[0]
        assert item.line == 3
        assert item.cells["remarks"] == "备注"

    def test_bom_does_not_hide_the_header(self) -> None:
        result = parse_tsv("\ufeff" + HEADER + "\n" + _row("1") + "\n")
        assert [(item.seq, item.line) for item in result.items] == [(1, 2)]

    def test_title_line_before_the_header_becomes_the_title(self) -> None:
        result = parse_tsv("民勤县医疗保障局权责清单\n" + HEADER + "\n" + _row("1") + "\n")
        assert result.title == "民勤县医疗保障局权责清单"
        assert result.problems == []

    def test_second_text_line_before_the_header_is_noted(self) -> None:
        result = parse_tsv("某局权责清单\n（2023年版）\n" + HEADER + "\n" + _row("1") + "\n")
        assert result.title == "某局权责清单"
        assert [(p.code, p.severity, p.line) for p in result.problems] == [
            ("import.skipped_line", "info", 2)
        ]
        assert len(result.items) == 1

    def test_data_before_the_header_is_reported(self) -> None:
        result = parse_tsv(_row("0") + "\n" + HEADER + "\n" + _row("1") + "\n")
        assert [item.seq for item in result.items] == [1]
        assert [(p.code, p.line) for p in result.problems] == [("import.bad_row", 1)]

    def test_duplicate_codes_are_never_merged(self) -> None:
        text = HEADER + "\n" + _row("1") + "\n" + _row("2") + "\n" + _row("3", "另一事项") + "\n"
        result = parse_tsv(text)
        assert [item.cells["local_code"] for item in result.items] == [CODE] * 3
        assert result.problems == []

    def test_cells_keep_surrounding_spaces_and_html(self) -> None:
        row = _row("1", name=" <p>对某事项的处罚</p> ")
        item = parse_tsv(HEADER + "\n" + row).items[0]
        assert item.cells["name"] == " <p>对某事项的处罚</p> "

    def test_whitespace_only_cell_is_left_out(self) -> None:
        fields = _row("1").split("\t")
        fields[7] = "  "
        item = parse_tsv(HEADER + "\n" + "\t".join(fields)).items[0]
        assert "handling_unit" not in item.cells

    def test_non_numeric_seq_is_kept_as_none_with_a_warning(self) -> None:
        result = parse_tsv(HEADER + "\n" + _row("一") + "\n" + _row("２") + "\n" + _row("3.0"))
        assert [item.seq for item in result.items] == [None, 2, 3]
        assert [(p.code, p.severity, p.field) for p in result.problems] == [
            ("import.bad_seq", "warning", "seq")
        ]


class TestParseTsvHeaderVariants:
    def test_header_variants_map_to_the_same_fields(self) -> None:
        header = (
            "序 号\t事项 名称\t权力类别\t地方权力编码\t实施主体\t承办科室\t实施依据（法律法规）"
        )
        row = "7\t某事项\t行政确认\t" + CODE + "\t某局\t某股\t《某法》第一条"
        item = parse_tsv(header + "\n" + row + "\n").items[0]
        assert item.seq == 7
        assert item.cells == {
            "name": "某事项",
            "power_type": "行政确认",
            "local_code": CODE,
            "exercising_body": "某局",
            "handling_unit": "某股",
            "legal_basis": "《某法》第一条",
        }

    def test_columns_may_come_in_any_order(self) -> None:
        header = "事项名称\t序号\t权力类型"
        item = parse_tsv(header + "\n某事项\t5\t行政处罚\n").items[0]
        assert (item.seq, item.cells["name"], item.cells["power_type"]) == (5, "某事项", "行政处罚")

    def test_unknown_column_is_ignored_with_one_warning(self) -> None:
        header = "序号\t事项名称\t权力类型\t联系电话"
        text = header + "\n1\t甲\t行政处罚\t0935\n" + header + "\n2\t乙\t行政处罚\t0936\n"
        result = parse_tsv(text)
        assert all("0935" not in item.cells.values() for item in result.items)
        assert [(p.code, p.line) for p in result.problems] == [("import.unknown_column", 1)]

    def test_repeated_column_reads_only_the_first(self) -> None:
        text = "序号\t事项名称\t权力类型\t事项名称\n1\t甲\t行政处罚\t乙\n"
        result = parse_tsv(text)
        assert result.items[0].cells["name"] == "甲"
        assert [p.code for p in result.problems] == ["import.duplicate_column"]
