"""Unit tests of extract_citations on every item of the Dunhuang seed."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from app.services.citations import Citation, extract_citations
from app.services.importers import registry
from app.services.text import clean_text

SEED = Path(__file__).parents[2] / "seed"

SOCIAL_INSURANCE_LAW = "中华人民共和国社会保险法"
ADMINISTRATIVE_PENALTY_LAW = "中华人民共和国行政处罚法"
FUND_SUPERVISION_REGULATION = "医疗保障基金使用监督管理条例"
CONTRIBUTION_REGULATION = "社会保险费征缴暂行条例"
SOCIAL_ASSISTANCE_MEASURES = "社会救助暂行办法"
GANSU_SOCIAL_ASSISTANCE_REGULATION = "甘肃省社会救助条例"
JIUQUAN_COLLECTION_NOTICE = (
    "国家税务总局酒泉市税务局 酒泉市财政局 酒泉市人力资源和社会保障局 人民银行酒泉市中心支行"
    " 酒泉市医疗保障局关于印发<酒泉市统一社会保险费征收模式实施方案>的通知"
)
GANSU_FILING_ANNOUNCEMENT = (
    "国家税务总局甘肃省税务局、甘肃省财政厅、甘肃省人力资源和社会保障厅、中国人民银行甘肃省分行、"
    "甘肃省医疗保障局关于优化调整社会保险费申报缴纳流程的公告"
)
JIUQUAN_RESIDENTS_MEASURES = "关于印发酒泉市城乡居民基本医疗保险实施办法的通知"
JIUQUAN_RESIDENTS_POOLING = "关于印发酒泉市城乡居民基本医疗保险市级统筹实施方案的通知"
JIUQUAN_EMPLOYEES_POOLING = "关于印发酒泉市职工基本医疗保险市级统筹方案的通知"
JIUQUAN_RESIDENTS_CHRONIC = "关于进一步完善酒泉市城乡居民基本医疗保险门诊慢特病管理的通知"
JIUQUAN_EMPLOYEES_CHRONIC = "关于进一步完善酒泉市职工基本医疗保险门诊慢特病管理的通知"
JIUQUAN_MATERNITY_MERGER = "酒泉市职工生育保险和职工基本医疗保险合并实施方案"
JIUQUAN_SETTLEMENT_OPINION = "酒泉市医疗保障局关于基本医疗保险结算支付有关问题的处理意见"
JIUQUAN_ENTRUSTED_SERVICE = "关于规范医保委托经办服务有关问题的通知"

# Items 7 and 8 are the same text (item 8 with 〔…] typos in the document numbers).
POOLED_FUND_CITATIONS = [
    Citation(SOCIAL_INSURANCE_LAW, ("第六十四条",)),
    Citation(JIUQUAN_MATERNITY_MERGER),
    Citation(JIUQUAN_SETTLEMENT_OPINION),
    Citation(JIUQUAN_ENTRUSTED_SERVICE),
]

# Items 6 and 18 are the same text.
FUND_SUPERVISION_CITATIONS = [
    Citation(SOCIAL_INSURANCE_LAW, ("第七十七条", "第七十九条")),
    Citation(FUND_SUPERVISION_REGULATION, ("第二十二条",)),
]

# Items 21 and 27 are the same list of two notices (27 under a 【规范性文件】 heading).
JIUQUAN_RESIDENTS_CITATIONS = [
    Citation(JIUQUAN_RESIDENTS_MEASURES),
    Citation(JIUQUAN_RESIDENTS_POOLING),
]

# Read off the 实施依据 column of seed/dunhuang-medical-security.pdf.txt, item by item.
DUNHUANG_CITATIONS: dict[int, list[Citation]] = {
    1: [
        Citation(SOCIAL_INSURANCE_LAW, ("第八十七条", "第八十八条")),
        Citation(ADMINISTRATIVE_PENALTY_LAW, ("第三条",)),
        # 本条例第三十八条 inside the quoted 第四十条 is a cross reference.
        Citation(
            FUND_SUPERVISION_REGULATION,
            ("第三十八条", "第三十九条", "第四十条", "第四十二条", "第四十三条", "第四十四条"),
        ),
    ],
    2: [
        Citation(SOCIAL_INSURANCE_LAW, ("第八十六条",)),
        Citation(CONTRIBUTION_REGULATION, ("第二十三条",)),
        Citation(JIUQUAN_COLLECTION_NOTICE),
        Citation(GANSU_FILING_ANNOUNCEMENT),
    ],
    3: [
        Citation("社会保险费征缴监督检查办法", ("第十四条",)),
        Citation(JIUQUAN_COLLECTION_NOTICE),
        Citation(GANSU_FILING_ANNOUNCEMENT),
    ],
    4: [
        Citation(SOCIAL_INSURANCE_LAW, ("第九十一条",)),
        Citation(JIUQUAN_RESIDENTS_POOLING),
        Citation(JIUQUAN_EMPLOYEES_POOLING),
    ],
    5: [
        # The regulation is cited twice (第十三条, then 第二十四条); 本条例第十条 inside the
        # quoted 第二十四条 is a cross reference.
        Citation(CONTRIBUTION_REGULATION, ("第十三条", "第二十四条")),
        Citation(JIUQUAN_COLLECTION_NOTICE),
        Citation(GANSU_FILING_ANNOUNCEMENT),
    ],
    6: FUND_SUPERVISION_CITATIONS,
    7: POOLED_FUND_CITATIONS,
    8: POOLED_FUND_CITATIONS,
    9: [
        # 第五章第二十七条: the chapter is not part of the article; the title in the revision
        # note takes no articles.
        Citation(SOCIAL_ASSISTANCE_MEASURES, ("第二十七条", "第三十条")),
        Citation("国务院关于修改部分行政法规的决定"),
        Citation(GANSU_SOCIAL_ASSISTANCE_REGULATION, ("第二十五条", "第二十九条")),
    ],
    10: [
        Citation(JIUQUAN_RESIDENTS_MEASURES),
        Citation(JIUQUAN_RESIDENTS_CHRONIC),
        Citation(JIUQUAN_EMPLOYEES_CHRONIC),
    ],
    11: [Citation(GANSU_SOCIAL_ASSISTANCE_REGULATION, ("第二十八条",))],
    12: [
        Citation(SOCIAL_INSURANCE_LAW, ("第八条", "第五十七条", "第五十八条")),
        Citation(JIUQUAN_COLLECTION_NOTICE),
        Citation(GANSU_FILING_ANNOUNCEMENT),
    ],
    13: [
        # 第二十一条 belongs to 实施《中华人民共和国社会保险法》若干规定 (named without 《》 around
        # its full title, and followed by a dated note): a cross reference, not the law's article.
        Citation(SOCIAL_INSURANCE_LAW, ("第六十条",)),
    ],
    14: [
        # The revision note never closes its first （ and names the same 办法 again, which
        # merges into the first entry.
        Citation(
            SOCIAL_ASSISTANCE_MEASURES, ("第二十七条", "第二十八条", "第三十条", "第三十一条")
        ),
        Citation(GANSU_SOCIAL_ASSISTANCE_REGULATION, ("第二十五条", "第二十九条")),
        Citation("关于健全重特大疾病医疗保险和救助制度的实施意见"),
        Citation("关于印发<酒泉市医疗救助市级统筹实施方案>的通知"),
    ],
    15: [
        # 共五十条 in the second note is a count, not an article.
        Citation("医疗机构医疗保障定点管理暂行办法", ("第三条", "第四条")),
        Citation("零售药店医疗保障定点管理暂行办法", ("第三条", "第四条")),
    ],
    16: [
        Citation("违法违规使用医疗保障基金举报奖励办法", ("第二条",)),
        Citation("甘肃省违法违规使用医疗保障基金举报奖励实施办法", ("第二条",)),
        Citation("酒泉市违法违规使用医疗保障基金举报奖励实施细则", ("第二条",)),
    ],
    17: [
        Citation(SOCIAL_INSURANCE_LAW, ("第八十七条", "第八十八条")),
        Citation(ADMINISTRATIVE_PENALTY_LAW, ("第三条",)),
        Citation(
            FUND_SUPERVISION_REGULATION,
            ("第四十一条", "第四十二条", "第四十四条", "第四十六条", "第四十七条"),
        ),
    ],
    18: FUND_SUPERVISION_CITATIONS,
    19: [
        Citation("中华人民共和国价格法", ("第三条第五款",)),
        Citation(FUND_SUPERVISION_REGULATION, ("第二十二条",)),
        # 第三条，第（六）: without 项 the item is not folded into the article.
        Citation("敦煌市医疗保障局职能配置、内设机构和人员编制规定", ("第三条",)),
    ],
    20: [Citation("社会保险稽核办法", ("第二条",))],
    21: JIUQUAN_RESIDENTS_CITATIONS,
    22: [
        Citation(JIUQUAN_EMPLOYEES_POOLING),
        Citation(JIUQUAN_EMPLOYEES_CHRONIC),
        Citation(JIUQUAN_RESIDENTS_CHRONIC),
        Citation("酒泉市基本医疗保险门诊慢特病经办管理规程"),
    ],
    23: [
        Citation(SOCIAL_INSURANCE_LAW, ("第二十三条", "第五十八条")),
        Citation(JIUQUAN_COLLECTION_NOTICE),
        Citation(GANSU_FILING_ANNOUNCEMENT),
    ],
    24: [
        Citation("国务院办公厅关于巩固完善基本药物制度和基层运行新机制的意见", ("第二条",)),
        Citation("医疗机构管理条例", ("第二条", "第五条")),
        Citation("国家医疗保障局关于进一步完善医药价格和招采信用评价制度的通知"),
    ],
    25: [
        Citation(SOCIAL_INSURANCE_LAW, ("第六十七条",)),
        # 四、 and 六、 are section numbers, not articles.
        Citation("国务院关于试行社会保险基金预算的意见"),
        Citation(
            "社会保险基金财务制度",
            ("第八条", "第九条", "第十条", "第十一条", "第五十二条"),
        ),
        # Named in passing inside the quoted 第八条; 社会保险法 is not aliased to the full title.
        Citation("预算法"),
        Citation("社会保险法"),
        Citation("预算法实施条例"),
    ],
    26: [
        Citation(
            "中共甘肃省委退役军人事务工作领导小组办公室印发<关于解决部分退役士兵社会保险问题"
            "工作方案>及配套文件的通知"
        )
    ],
    27: JIUQUAN_RESIDENTS_CITATIONS,
    28: [
        Citation("国务院办公厅转发劳动保障部、财政部关于实行国家公务员医疗补助意见的通知"),
        Citation(
            "甘肃省人民政府办公厅转发省劳动和社会保障厅、财政厅关于甘肃省省直单位国家公务员"
            "实行医疗补助暂行办法的通知"
        ),
        Citation("关于市直机关公务员实行医疗补助制度的通知"),
        Citation("关于调整规范公务员医疗补助的通知"),
        Citation("关于调整规范公务员医疗补助的补充通知"),
    ],
}


@cache
def _dunhuang_legal_bases() -> dict[int, str]:
    data = (SEED / "dunhuang-medical-security.pdf.txt").read_bytes()
    _fmt, result = registry.read(data)
    bases: dict[int, str] = {}
    for item in result.items:
        assert item.seq is not None
        assert item.seq not in bases
        bases[item.seq] = item.cells["legal_basis"]
    return bases


class TestExtractCitationsOnDunhuangSeed:
    @pytest.mark.parametrize("seq", sorted(DUNHUANG_CITATIONS), ids=lambda seq: f"seq{seq:02d}")
    def test_cleaned_legal_basis_yields_expected_citations(self, seq: int) -> None:
        cleaned = clean_text(_dunhuang_legal_bases()[seq])
        assert extract_citations(cleaned) == DUNHUANG_CITATIONS[seq]

    def test_every_item_is_covered(self) -> None:
        seqs = sorted(_dunhuang_legal_bases())
        assert seqs == list(range(1, 29))
        assert sorted(DUNHUANG_CITATIONS) == seqs
