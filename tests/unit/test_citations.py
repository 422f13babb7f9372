"""Unit tests of extract_citations on the Minqin seed and on inline edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.services import citations
from app.services.citations import Citation, extract_citations
from app.services.importers.tsv import parse_tsv
from app.services.text import clean_text

SEED = Path(__file__).parents[2] / "seed"

SOCIAL_INSURANCE_LAW = "中华人民共和国社会保险法"
GANSU_PROCUREMENT_OPINION = "甘肃省人民政府办公厅关于完善公立医院药品集中采购工作的实施意见"

# Read off the 实施依据 column of seed/minqin-medical-security.tsv.txt, item by item.
MINQIN_CITATIONS: dict[int, list[Citation]] = {
    1: [Citation(SOCIAL_INSURANCE_LAW, ("第八十七条", "第八十八条"))],
    2: [
        # 第五章第二十七条: the chapter is not part of the article.
        Citation("社会救助暂行办法", ("第二十七条", "第三十条")),
        Citation("甘肃省社会救助条例", ("第二十五条", "第二十九条")),
    ],
    3: [
        Citation(
            "国家医保局办公室 财政部办公厅关于印发〈欺诈骗取医疗保障基金行为举报奖励暂行办法〉"
            "的通知",
            ("第十条", "第十一条", "第十二条", "第十三条"),
        ),
        # The list closes the title before 的通知; 第五条 and 第九条 sit inside the quotation
        # opened after 第二条 but are article headings of their own.
        Citation(
            "甘肃省欺诈骗取医疗保险基金行为举报奖励实施办法（暂行）",
            ("第二条", "第五条", "第九条"),
        ),
    ],
    4: [Citation(SOCIAL_INSURANCE_LAW, ("第六十七条",))],
    5: [
        Citation("国务院关于印发社会信用体系建设规划纲要（2014-2020年）的通知"),
        Citation("国务院办公厅关于完善公立医院药品集中采购工作的指导意见"),
        Citation(GANSU_PROCUREMENT_OPINION),
    ],
    6: [
        Citation("医疗机构药品集中采购工作规范", ("第三十二条",)),
        Citation(GANSU_PROCUREMENT_OPINION),
        Citation(
            "甘肃省卫计委关于印发〈甘肃省医疗卫生机构药品备案采购管理办法〉的通知",
            ("第三条",),
        ),
    ],
    7: [
        Citation(SOCIAL_INSURANCE_LAW, ("第八条", "第五十七条", "第五十八条")),
        # 本规定第四条、第五条 and 社会保险法第八十六条 inside the quoted 第七条 are cross
        # references, not citations.
        Citation("社会保险费申报缴纳管理规定", ("第四条", "第七条")),
    ],
    8: [
        Citation("优抚对象医疗保障办法", ("第十三条",)),
        Citation(
            "中共甘肃省委退役军人事务工作领导小组办公室印发〈关于解决部分退役士兵社会保险问题"
            "工作方案〉及配套文件的通知"
        ),
    ],
    9: [
        Citation(SOCIAL_INSURANCE_LAW, ("第四十八条",)),
        Citation(
            "人力资源社会保障部 财政部关于领取失业保险金人员参加职工基本医疗保险有关问题的通知"
        ),
    ],
}


def _minqin_legal_bases() -> dict[int, str]:
    text = (SEED / "minqin-medical-security.tsv.txt").read_text(encoding="utf-8")
    bases: dict[int, str] = {}
    for item in parse_tsv(text).items:
        assert item.seq is not None
        bases[item.seq] = item.cells["legal_basis"]
    return bases


class TestExtractCitationsOnMinqinSeed:
    @pytest.mark.parametrize("seq", sorted(MINQIN_CITATIONS))
    def test_cleaned_legal_basis_yields_expected_citations(self, seq: int) -> None:
        cleaned = clean_text(_minqin_legal_bases()[seq])
        assert extract_citations(cleaned) == MINQIN_CITATIONS[seq]

    def test_raw_cell_gives_same_citations_as_cleaned(self) -> None:
        for seq, raw in _minqin_legal_bases().items():
            assert extract_citations(raw) == MINQIN_CITATIONS[seq]

    def test_seed_has_nine_items(self) -> None:
        assert sorted(_minqin_legal_bases()) == list(range(1, 10))


class TestExtractCitations:
    @pytest.mark.parametrize("text", [None, "", "   ", "<p></p>"])
    def test_empty_text_yields_nothing(self, text: str | None) -> None:
        assert extract_citations(text) == []

    def test_text_without_title_yields_nothing(self) -> None:
        assert extract_citations("依据国务院有关规定第三条执行。") == []

    def test_title_without_articles_yields_empty_articles(self) -> None:
        assert extract_citations("《社会保险法》有关规定") == [Citation("社会保险法", ())]

    def test_arabic_numerals_are_kept_as_written(self) -> None:
        text = "《医疗保障基金使用监督管理条例》第38条、第39条及第４０条"
        assert extract_citations(text) == [
            Citation("医疗保障基金使用监督管理条例", ("第38条", "第39条", "第４０条"))
        ]

    def test_paragraph_and_item_are_folded_into_the_article(self) -> None:
        text = "《中华人民共和国价格法》第三条第五款，第十四条第（一）项，第二十条之一"
        assert extract_citations(text) == [
            Citation("中华人民共和国价格法", ("第三条第五款", "第十四条第（一）项", "第二十条之一"))
        ]

    def test_repeated_law_is_merged_keeping_order_without_duplicates(self) -> None:
        text = (
            "1.《社会保险法》第八十七条。2.《社会救助暂行办法》第三十条。"
            "3.《社会保险法》第八十八条、第八十七条，第九十一条"
        )
        assert extract_citations(text) == [
            Citation("社会保险法", ("第八十七条", "第八十八条", "第九十一条")),
            Citation("社会救助暂行办法", ("第三十条",)),
        ]

    def test_articles_belong_to_the_nearest_preceding_title(self) -> None:
        text = "《甲法》第一条《乙条例》第二条：“……”第三条"
        assert extract_citations(text) == [
            Citation("甲法", ("第一条",)),
            Citation("乙条例", ("第二条", "第三条")),
        ]

    def test_article_before_any_title_is_ignored(self) -> None:
        assert extract_citations("第五条依据《甲法》第六条") == [Citation("甲法", ("第六条",))]

    def test_cross_references_in_quoted_wording_are_skipped(self) -> None:
        text = (
            "《社会保险费征缴暂行条例》第十三条：“……依照本条例第十条的规定征缴，"
            "按照社会保险法第八十六条、第八十七条处理。”第十四条"
        )
        assert extract_citations(text) == [
            Citation("社会保险费征缴暂行条例", ("第十三条", "第十四条"))
        ]

    def test_title_in_a_revision_note_does_not_take_the_articles_after_it(self) -> None:
        # Item 9 of the Dunhuang seed.
        text = (
            "1.《社会救助暂行办法》（国务院令第649号，根据2019年3月2日《国务院关于修改部分行政"
            "法规的决定》修订）第五章第二十七条：国家建立健全医疗救助制度。第三十条：申请医疗"
            "救助的，应当向乡镇人民政府提出。"
        )
        assert extract_citations(text) == [
            Citation("社会救助暂行办法", ("第二十七条", "第三十条")),
            Citation("国务院关于修改部分行政法规的决定", ()),
        ]

    def test_sentence_end_inside_a_revision_note_does_not_matter(self) -> None:
        text = "1.《甲法》第一条。2.《乙办法》（国务院令第709号，修订后继续施行。）第五条"
        assert extract_citations(text) == [
            Citation("甲法", ("第一条",)),
            Citation("乙办法", ("第五条",)),
        ]

    def test_titles_named_in_passing_leave_the_next_articles_to_the_cited_one(self) -> None:
        # Item 25 of the Dunhuang seed, shortened.
        text = (
            "3、财政部 人力资源社会保障部 国家卫生计生委印发《社会保险基金财务制度》"
            "（财社〔2017〕144号）第八条社会保险基金预算编制应按照《预算法》《社会保险法》"
            "《预算法实施条例》以及国务院有关规定执行。第九条 社会保险基金预算保持独立完整。"
            "第十条 财政部门负责审核。"
        )
        assert extract_citations(text) == [
            Citation("社会保险基金财务制度", ("第八条", "第九条", "第十条")),
            Citation("预算法", ()),
            Citation("社会保险法", ()),
            Citation("预算法实施条例", ()),
        ]

    def test_nested_titles_stay_in_the_outer_title(self) -> None:
        text = "《关于印发《酒泉市实施方案》的通知》第二条；《关于印发<某办法>的通知》第三条"
        assert extract_citations(text) == [
            Citation("关于印发《酒泉市实施方案》的通知", ("第二条",)),
            Citation("关于印发<某办法>的通知", ("第三条",)),
        ]

    def test_unclosed_bracket_is_not_a_title(self) -> None:
        assert extract_citations("《甲法第一条，《乙法》第二条") == [Citation("乙法", ("第二条",))]

    def test_letter_spaced_pdf_title_is_cleaned(self) -> None:
        assert extract_citations("1. 《 社 会 保 险 法 》\n第 九 十 三 条") == [
            Citation("社会保险法", ("第九十三条",))
        ]

    def test_sessions_and_document_numbers_are_not_articles(self) -> None:
        text = (
            "《社会保险法》（2018年12月29日第十三届全国人民代表大会常务委员会"
            "第七次会议修正，第23号）"
        )
        assert extract_citations(text) == [Citation("社会保险法", ())]

    @given(st.text(alphabet="《》（）()。第一二条法 ，、本", max_size=60))
    def test_any_text_gives_titles_without_brackets_and_known_article_shapes(
        self, text: str
    ) -> None:
        for citation in extract_citations(text):
            assert citation.law
            assert len(set(citation.articles)) == len(citation.articles)
            assert all(a.startswith("第") and "条" in a for a in citation.articles)

    def test_as_dict_gives_the_json_shape(self) -> None:
        citation = Citation("社会保险法", ("第八十七条", "第八十八条"))
        assert citation.as_dict() == {"law": "社会保险法", "articles": ["第八十七条", "第八十八条"]}


# --- The scans over marks, against the plain definitions, character by character ---------------

# Built of whole pieces, so that titles, sentence ends and articles meet often.
PIECES = ["《", "》", "《法》", "（", "）", "(", ")", "。", "；", ";", "第一条", "第二条第三款"]
PIECES += ["本法", "规定", "、", "，", " ", "x", "第", "条"]
MARKED_TEXT = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def _depths_by_definition(text: str) -> list[int]:
    """Round brackets open before each index: count them in the prefix, closing none below 0."""
    out = []
    for k in range(len(text)):
        depth = 0
        for ch in text[:k]:
            depth = depth + 1 if ch in "（(" else max(depth - 1, 0) if ch in "）)" else depth
        out.append(depth)
    return out


def _titles_by_definition(text: str) -> list[tuple[int, int]]:
    """Outermost 《…》 pairs: each 》 closes the latest unclosed 《; pairs inside others drop."""
    pairs, stack = [], []
    for k, ch in enumerate(text):
        if ch == "《":
            stack.append(k)
        elif ch == "》" and stack:
            pairs.append((stack.pop(), k))
    return [p for p in pairs if not any(o[0] < p[0] and p[1] < o[1] for o in pairs)]


def _owns_by_definition(
    text: str, articles: list[Any], depths: list[int], in_title: list[bool]
) -> dict[int, bool]:
    """A title owns the articles after it unless a sentence end outside titles, at its bracket
    level or shallower, comes between it and the next article."""
    owns: dict[int, bool] = {}
    for start, end in _titles_by_definition(text):
        following = [a.start for a in articles if a.start > end]
        if not following:
            owns[end] = True
            continue
        ends = [
            depths[k]
            for k in range(end + 1, min(following))
            if text[k] in "。；;" and not in_title[k]
        ]
        owns[end] = not ends or min(ends) > depths[start]
    return owns


class TestScansOverMarks:
    @given(MARKED_TEXT)
    def test_bracket_depths(self, text: str) -> None:
        assert citations._bracket_depths(text) == _depths_by_definition(text)

    @given(MARKED_TEXT)
    def test_titles(self, text: str) -> None:
        assert citations._titles(text) == _titles_by_definition(text)

    @given(MARKED_TEXT)
    @example("《法》。第一条")  # a sentence ends between: the title does not own it
    @example("《甲》第一条（《乙》。）第二条")  # a deeper sentence end does not count
    def test_which_titles_own_the_articles_after_them(self, text: str) -> None:
        spans = citations._titles(text)
        depths = citations._bracket_depths(text)
        in_title = citations._title_mask(text, spans)
        articles = citations._articles(text, in_title, depths)
        titles = citations._read_titles(text, spans, in_title, articles, depths)
        expected = _owns_by_definition(text, articles, depths, in_title)
        assert {t.end: t.owns for t in titles} == {t.end: expected[t.end] for t in titles}
