"""Unit tests of the text normaliser: clean_text, normalize_code, normalize_label."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.text import clean_text, is_cjk, normalize_code, normalize_label

SEED = Path(__file__).parents[2] / "seed"

# Half-width marks clean_text may turn into full-width ones, and what they may become.
_CONVERSIONS = {
    ",": "，",
    ";": "；",
    ":": "：",
    "?": "？",
    "!": "！",
    "(": "（",
    ")": "）",
    '"': "“”",
}


def _minqin_cells() -> list[str]:
    text = (SEED / "minqin-medical-security.tsv.txt").read_text(encoding="utf-8")
    return [cell for line in text.split("\n") for cell in line.split("\t") if cell.strip()]


class TestCleanTextEmpty:
    @pytest.mark.parametrize("raw", [None, "", "   ", "\n\t\u3000\n", "<p></p>", "<br/>&nbsp;"])
    def test_nothing_visible_returns_none(self, raw: str | None) -> None:
        assert clean_text(raw) is None

    def test_surrounding_whitespace_is_stripped(self) -> None:
        assert clean_text("  \n行政处罚 \r\n") == "行政处罚"


class TestCleanTextHtml:
    def test_paragraphs_are_removed_and_joined(self) -> None:
        raw = "<p>1. 对符合条件不予受理的；</p> <p>2. 违反规定审批的；</p>"
        assert clean_text(raw) == "1.对符合条件不予受理的；2.违反规定审批的；"

    def test_br_and_attributes_are_removed(self) -> None:
        assert clean_text('<P class="x">行政<BR/>处罚</P>') == "行政处罚"

    def test_inline_tags_and_comments_are_removed(self) -> None:
        assert clean_text("<span>社会</span><!-- x --><b>保险</b><o:p></o:p>法") == "社会保险法"

    def test_entities_are_decoded(self) -> None:
        assert clean_text("A&amp;B &quot;x&quot;") == 'A&B "x"'

    def test_escaped_markup_is_removed_too(self) -> None:
        assert clean_text("&lt;p&gt;医疗保障&lt;/p&gt;") == "医疗保障"

    def test_half_width_angle_brackets_of_a_nested_title_are_kept(self) -> None:
        raw = "关于印发<酒泉市统一社会保险费征收模式实施方案 >的通知"
        assert clean_text(raw) == "关于印发<酒泉市统一社会保险费征收模式实施方案>的通知"

    def test_non_breaking_space_entity_is_whitespace(self) -> None:
        assert clean_text("罚款&nbsp;。") == "罚款。"


class TestCleanTextLineBreaks:
    def test_break_between_cjk_disappears(self) -> None:
        assert clean_text("对医疗\n保险经\n办机构") == "对医疗保险经办机构"

    def test_break_with_spaces_between_cjk_and_punctuation_disappears(self) -> None:
        assert clean_text("以欺诈 \r\n 、伪造证明材料") == "以欺诈、伪造证明材料"

    def test_break_before_digits_after_cjk_disappears(self) -> None:
        assert clean_text("拒不改正的，处\n1万元以上5万元以下的罚款") == (
            "拒不改正的，处1万元以上5万元以下的罚款"
        )

    def test_break_between_latin_words_becomes_space(self) -> None:
        assert clean_text("mobile\nAPP") == "mobile APP"

    def test_break_after_clause_end_before_numbering_disappears(self) -> None:
        assert clean_text("予以调查立案。\n2.调查阶段责任") == "予以调查立案。2.调查阶段责任"


class TestCleanTextLayoutSpaces:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("对 隐 匿", "对隐匿"),
            ("欺诈 、伪造", "欺诈、伪造"),
            ("罚款 。", "罚款。"),
            ("《 社 会 保 险 法 》", "《社会保险法》"),
            ("（2018年12月29日 实施 ）", "（2018年12月29日实施）"),
            ("暂停相关责任部门 6个月以上", "暂停相关责任部门6个月以上"),
            ("（酒政办发〔2019〕 102 号）", "（酒政办发〔2019〕102号）"),
            ("1. 对符合条件不予受理的", "1.对符合条件不予受理的"),
        ],
    )
    def test_layout_space_inside_cjk_is_removed(self, raw: str, expected: str) -> None:
        assert clean_text(raw) == expected

    def test_letter_spaced_narrow_pdf_cell_is_joined(self) -> None:
        # The 事项名称 cell of item 4 in the Dunhuang seed, one fragment per PDF line.
        fragments = [
            "对 隐 匿", "、 转 移", "、 侵 占", "、 挪 用", "医 疗 保", "险 、 生", "育 保 险",
            "基 金 或", "者 违 规", "投 资 运", "营 的 处", "罚",
        ]  # fmt: skip
        assert clean_text("\n".join(fragments)) == (
            "对隐匿、转移、侵占、挪用医疗保险、生育保险基金或者违规投资运营的处罚"
        )

    def test_two_character_fragment_is_joined(self) -> None:
        assert clean_text("或 者 不\n设 账\n册 ， 致") == "或者不设账册，致"

    @pytest.mark.parametrize(
        "text",
        [
            "国家医保局办公室 财政部办公厅关于印发〈欺诈骗取医疗保障基金行为举报奖励暂行办法〉",
            "第十条 举报人举报事项同时符合下列条件的",
            "由财政部门 and 医疗保障部门联合报本级人民政府审批",
            "电子邮箱、APP 等举报渠道",
        ],
    )
    def test_separator_between_words_is_kept(self, text: str) -> None:
        assert clean_text(text) == text

    def test_runs_of_whitespace_between_latin_words_collapse(self) -> None:
        assert clean_text("a   b\t\tc \u3000 d") == "a b c d"

    def test_invisible_characters_are_removed(self) -> None:
        assert clean_text("\ufeff医疗\u200b保障") == "医疗保障"


class TestCleanTextPunctuation:
    def test_half_width_marks_next_to_cjk_become_full_width(self) -> None:
        raw = (
            "《中华人民共和国社会保险法》(2011年7月1日施行,2018年12月29日修正)第八十七条:"
            '"社会保险经办机构";第八十八条'
        )
        assert clean_text(raw) == (
            "《中华人民共和国社会保险法》（2011年7月1日施行，2018年12月29日修正）第八十七条："
            "“社会保险经办机构”；第八十八条"
        )

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("是否受理?", "是否受理？"),
            ("注意!", "注意！"),
            ("规定; 2.行政处罚", "规定；2.行政处罚"),
            ("提出审查意见, 并告知", "提出审查意见，并告知"),
            ("(一)用人单位名称", "（一）用人单位名称"),
            ("联系方式:(0935)1234567", "联系方式：（0935）1234567"),
            ("文件(ABC)", "文件（ABC）"),
        ],
    )
    def test_mark_in_cjk_context_becomes_full_width(self, raw: str, expected: str) -> None:
        assert clean_text(raw) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "罚款1,000元",
            "处3.5倍罚款",
            "于10:30前",
            "1.立案阶段责任",
            "国发[2014]21号",
            "隐匿.转移.侵占",
            "Hello, world (test): ok? yes!",
            '"quoted" text',
            "http://example.org/a?b=1",
            "2014-2020年",
        ],
    )
    def test_numbers_full_stops_and_latin_text_are_untouched(self, text: str) -> None:
        assert clean_text(text) == text

    def test_comma_after_number_before_cjk_becomes_full_width(self) -> None:
        assert clean_text("共1,000元,超出部分") == "共1,000元，超出部分"

    def test_straight_quotes_around_cjk_become_curly(self) -> None:
        assert clean_text('违反"罚缴分离"规定') == "违反“罚缴分离”规定"

    def test_unmatched_bracket_follows_its_neighbours(self) -> None:
        assert clean_text("公告（第23号)") == "公告（第23号）"


class TestCleanTextSeeds:
    def test_every_minqin_cell_is_clean(self) -> None:
        for raw in _minqin_cells():
            cleaned = clean_text(raw)
            assert cleaned is not None
            assert clean_text(cleaned) == cleaned
            assert "<p>" not in cleaned
            assert "</p>" not in cleaned
            assert not re.search(r"[\u4e00-\u9fff][,;:()]|[,;:()][\u4e00-\u9fff]", cleaned)
            assert not re.search(r"\s[，。、；：）》”]|[，。、；：（《“]\s", cleaned)

    def test_minqin_cell_wrapped_in_paragraphs_reads_as_one_text(self) -> None:
        raw = (
            "<p>因不履行或不正确履行行政职责, 有下列情形之一的, 行政机关及相关工作人员应承担"
            "相应责任: 1. 对符合条件不予受理的;</p> <p>2. 未按照规定的程序办理, 或在办理过程中"
            "利用职权谋取私利的;</p>"
        )
        assert clean_text(raw) == (
            "因不履行或不正确履行行政职责，有下列情形之一的，行政机关及相关工作人员应承担"
            "相应责任：1.对符合条件不予受理的；2.未按照规定的程序办理，或在办理过程中"
            "利用职权谋取私利的；"
        )


_PIECES = st.one_of(
    st.sampled_from(
        [
            *"中文对隐匿医疗保障，。、；：“”《》〈〉（）",
            *",;:?!()\"'.-/[]",
            *"1290aZ",
            *[" ", "  ", "\n", "\r\n", "\t", "\u3000", "\xa0", "\u200b", "第", "条"],
        ]
    ),
    st.text(max_size=3),
)
_TEXTS = st.lists(_PIECES, max_size=40).map("".join)
_MARKUP = st.sampled_from(["<p>", "</p>", "<br/>", "&lt;", "&gt;p", "&amp;", "&nbsp;", "<!--"])
_HTML_TEXTS = st.lists(st.one_of(_PIECES, _MARKUP), max_size=40).map("".join)


def _without_whitespace(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace() and ch not in "\u200b\u2060\ufeff")


class TestCleanTextProperties:
    @given(_HTML_TEXTS)
    def test_cleaning_twice_changes_nothing(self, raw: str) -> None:
        once = clean_text(raw)
        assert clean_text(once) == once

    @given(st.text())
    def test_cleaning_any_text_twice_changes_nothing(self, raw: str) -> None:
        once = clean_text(raw)
        assert clean_text(once) == once

    @given(_HTML_TEXTS)
    def test_result_has_no_outer_whitespace(self, raw: str) -> None:
        cleaned = clean_text(raw)
        assert cleaned is None or (cleaned == cleaned.strip() and cleaned != "")

    @given(_TEXTS.filter(lambda t: "<" not in t and "&" not in t))
    def test_only_listed_marks_change_and_only_whitespace_goes(self, raw: str) -> None:
        cleaned = clean_text(raw) or ""
        before, after = _without_whitespace(raw), _without_whitespace(cleaned)
        assert len(before) == len(after)
        for old, new in zip(before, after, strict=True):
            assert new == old or (old in _CONVERSIONS and new in _CONVERSIONS[old])

    @given(_TEXTS.filter(lambda t: "<" not in t and "&" not in t))
    def test_cjk_characters_are_never_changed(self, raw: str) -> None:
        cleaned = clean_text(raw) or ""
        assert [c for c in cleaned if is_cjk(c) and c not in "，；：？！（）“”"] == [
            c for c in raw if is_cjk(c) and not c.isspace() and c not in "，；：？！（）“”"
        ]


class TestNormalizeCode:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("11620621MB176555834620236001000", "11620621MB176555834620236001000"),
            (
                "１１６２０６２１ｍｂ１７６５５５８３４６２０２３６００１０００",
                "11620621MB176555834620236001000",
            ),
            (" 11620621mb1765558 3462023\t6001000\n", "11620621MB176555834620236001000"),
            ("\ufeff11620621MB176555834620236001000\u3000", "11620621MB176555834620236001000"),
        ],
    )
    def test_code_is_half_width_upper_case_without_spaces(self, raw: str, expected: str) -> None:
        assert normalize_code(raw) == expected

    @pytest.mark.parametrize("raw", [None, "", " \u3000\t"])
    def test_empty_code_returns_none(self, raw: str | None) -> None:
        assert normalize_code(raw) is None

    def test_dropped_leading_zero_is_not_restored(self) -> None:
        assert normalize_code("145072100811537184452004020000") == "145072100811537184452004020000"

    @given(st.text())
    def test_normalising_twice_changes_nothing(self, raw: str) -> None:
        once = normalize_code(raw)
        assert normalize_code(once) == once


class TestNormalizeLabel:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("行政 处罚", "行政处罚"),
            ("行政\n处罚", "行政处罚"),
            ("敦 煌 市\n医 疗 保\n障 局", "敦煌市医疗保障局"),
            ("<p>民勤县医疗保障局</p>", "民勤县医疗保障局"),
            ("其他行政权力 ", "其他行政权力"),
            ("基金 监管股", "基金监管股"),
        ],
    )
    def test_label_has_no_whitespace(self, raw: str, expected: str) -> None:
        assert normalize_label(raw) == expected

    @pytest.mark.parametrize("raw", [None, "", " <br> "])
    def test_empty_label_returns_none(self, raw: str | None) -> None:
        assert normalize_label(raw) is None
