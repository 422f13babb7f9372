"""Validation rules: their metadata, the issue shape, and the checks made on one item at a time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from app.enums import Severity
from app.services import codes

# --- Rule ids (stable: clients filter on them; stored issues keep them) -----------------------

SHAPE: Final = "code.shape"
CHECK_DIGIT: Final = "code.check_digit"
DUPLICATE: Final = "code.duplicate"
TYPE_MISMATCH: Final = "code.type_mismatch"
LEVEL_MISMATCH: Final = "code.level_mismatch"
DIVISION_MISMATCH: Final = "code.division_mismatch"
REGION_MISMATCH: Final = "code.region_mismatch"
DEPARTMENT: Final = "code.department"
SUB_ITEM: Final = "code.sub_item"
MAIN_NUMBER_REPEATED: Final = "code.main_number_repeated"
MISSING_FIELD: Final = "item.missing_field"
MISSING_CODE: Final = "item.missing_code"
MISSING_LEVEL_OR_HANDLING_UNIT: Final = "item.missing_level_or_handling_unit"
NAME_CODE_INCONSISTENT: Final = "item.name_code_inconsistent"
NONSTANDARD_LABEL: Final = "type.nonstandard_label"


@dataclass(frozen=True, slots=True)
class Rule:
    """What a rule checks, for clerks (Chinese) and for the docs."""

    id: str
    check: int | None  # number in the checks table of reference/codes.md; None for an extra
    severity: Severity
    fields: tuple[str, ...]
    title: str
    explanation: str
    fix: str


_CODE_FIELDS = ("local_code", "sub_local_code")

RULES: Final[tuple[Rule, ...]] = (
    Rule(
        SHAPE,
        1,
        Severity.ERROR,
        _CODE_FIELDS,
        "编码格式错误",
        "地方权力编码应为31位（含2位业务办理项编码时为33位）：统一社会信用代码18位、行使层级1位"
        "（1–7）、区划码2位、事项类型2位、中央指导部门代码2位、主项顺序码3位、子项码3位"
        "（000无子项、00Y有子项的主项、001–999子项）。统一社会信用代码不使用I、O、Z、S、V。"
        "检查前先把全角字符转为半角、去掉空格、字母转为大写。",
        "对照原始文件逐位核对提示的位置并改正；电子表格会去掉编码开头的0，请按文本格式录入编码。",
    ),
    Rule(
        CHECK_DIGIT,
        2,
        Severity.ERROR,
        _CODE_FIELDS,
        "统一社会信用代码校验位错误",
        "编码前18位是行使主体的统一社会信用代码，第18位是按GB 32100由前17位算出的校验位。"
        "校验不通过，说明前18位中有字符录错。",
        "对照行使主体的统一社会信用代码证书改正编码前18位。",
    ),
    Rule(
        DUPLICATE,
        3,
        Severity.ERROR,
        _CODE_FIELDS,
        "编码重复",
        "一个实施编码（有子项编码时按子项编码）只能标识目录中的一个现行事项；"
        "多个现行事项共用一个编码，发布后无法区分。已撤销的事项不计。",
        "确认哪个事项是该编码的正确持有者，为其余事项重新编主项顺序码；"
        "若是同一事项重复录入，撤销多余的条目。",
    ),
    Rule(
        TYPE_MISMATCH,
        4,
        Severity.ERROR,
        ("local_code", "sub_local_code", "power_type"),
        "编码事项类型与权力类型不一致",
        "编码第22–23位是事项类型代码，应与事项的权力类型一致（如02行政处罚、10其他行政权力）。",
        "核实事项的权力类型：权力类型填错的改正权力类型，编码错的按正确类型重新编码。",
    ),
    Rule(
        LEVEL_MISMATCH,
        5,
        Severity.WARNING,
        _CODE_FIELDS,
        "行使层级与部门层级不符",
        "编码第19位是行使层级。部门层级按其行政区划推定：省级（xx0000）为2，地级市（xxxx00）为3，"
        "县、县级市、区为4（乡镇、村级事项也可为5、6）；7（分级管理）不作比较。"
        "部门没有登记行政区划时，按部门登记的层级或编码自身信用代码中的行政区划推定。",
        "核实该事项由哪一级行使，改正编码第19位；部门登记信息有误的，改正部门信息。",
    ),
    Rule(
        DIVISION_MISMATCH,
        6,
        Severity.WARNING,
        _CODE_FIELDS,
        "信用代码行政区划与部门不符",
        "统一社会信用代码第3–8位是登记管理机关的行政区划代码，应与事项所属部门的行政区划一致；"
        "不一致往往说明编码套用了其他地方部门的信用代码。",
        "核对行使主体的统一社会信用代码；事项实际属于其他部门的，把事项移到该部门。",
    ),
    Rule(
        REGION_MISMATCH,
        6,
        Severity.WARNING,
        _CODE_FIELDS,
        "区划码与部门所在省份不符",
        "编码第20–21位是区划码：00表示沿用国家目录中的事项，省级代码（如62甘肃）表示由该省增设。"
        "其他省份的代码与部门所在省份不符。",
        "沿用国家目录的事项改为00，本省增设的事项改为本省代码。",
    ),
    Rule(
        DEPARTMENT,
        7,
        Severity.WARNING,
        _CODE_FIELDS,
        "中央指导部门代码不符",
        "编码第24–25位是中央指导部门代码。医疗保障部门的事项由国家医疗保障局指导，代码应为36。"
        "完整的中央部门代码表尚未收录，目前只检查医疗保障部门。",
        "医疗保障部门的事项把编码第24–25位改为36；确属其他部门指导的，核实事项归属。",
    ),
    Rule(
        SUB_ITEM,
        8,
        Severity.ERROR,
        (*_CODE_FIELDS, "agency", "power_type"),
        "主项与子项编码不配套",
        "子项码为00Y的主项必须有子项；子项（001–999）必须有前28位相同、子项码为00Y的主项，"
        "前28位相同即行使层级、区划、类型、部门相同；主项与子项属于同一部门、同一权力类型。"
        "同一行填写子项编码时，地方权力编码应是以00Y结尾、前28位与子项编码相同的主项编码。"
        "子项编号重复由“编码重复”规则报告。",
        "补齐缺少的主项或子项，或改正子项码：没有子项的主项，子项码应为000。",
    ),
    Rule(
        MAIN_NUMBER_REPEATED,
        9,
        Severity.WARNING,
        ("local_code",),
        "主项顺序码重复",
        "同一部门、同一事项类型、同一中央指导部门下，主项顺序码（第26–28位）区分不同的主项，"
        "不应出现在不同的编码中（如信用代码、层级或区划不同，或一个为000另一个为00Y）。"
        "顺序码跳号不要紧；完全相同的编码由“编码重复”规则报告。",
        "为其中一个主项改用尚未使用的主项顺序码。",
    ),
    Rule(
        MISSING_FIELD,
        10,
        Severity.ERROR,
        (
            "name",
            "power_type",
            "exercising_body",
            "legal_basis",
            "responsibilities",
            "accountability",
        ),
        "必填项为空",
        "事项名称、权力类型、行使主体、实施依据、责任事项内容、追责情形是每个事项的必填项；"
        "权力类型名称无法对应标准类型的，也按权力类型缺失处理。",
        "对照原始清单补全；原清单本身就缺的，向编制部门核实后补录。",
    ),
    Rule(
        MISSING_CODE,
        None,
        Severity.WARNING,
        _CODE_FIELDS,
        "缺少地方权力编码",
        "事项没有地方权力编码（或有子项名称、主项编码为00Y，却没有子项编码）。有的部门发布的清单"
        "本身不含编码，这不妨碍收录；但补录编码之前，事项无法按编码查询和对接，编码中的行使层级"
        "也无从确定。",
        "向编制部门取得编码后，通过接口为事项补录（PATCH /api/v1/items/{id}）。",
    ),
    Rule(
        MISSING_LEVEL_OR_HANDLING_UNIT,
        11,
        Severity.WARNING,
        ("handling_unit", "local_code"),
        "缺少承办机构或行使层级",
        "承办机构是具体办理事项的内设机构（如基金监管股），应当填写。行使层级取自编码第19位："
        "没有编码的事项由“缺少地方权力编码”报告，编码长度不对的由“编码格式错误”报告，"
        "因此本规则实际只就承办机构报告。",
        "补充承办机构。",
    ),
    Rule(
        NAME_CODE_INCONSISTENT,
        12,
        Severity.WARNING,
        ("name", "sub_item_name", "local_code", "sub_local_code"),
        "名称与编码不对应",
        "同一部门中名称（含子项名称）相同的现行事项应使用同一个编码；事项撤销后，它的编码"
        "不得再用于此后新增的、名称不同的事项（撤销的编码不再使用）。",
        "同一事项的，统一编码并撤销重复条目；不同事项的，修改名称加以区分，或为新事项另编编码。",
    ),
    Rule(
        NONSTANDARD_LABEL,
        13,
        Severity.INFO,
        ("power_type",),
        "非标准权力类型名称",
        "清单所印的权力类型名称不是GB/T 39046-2020中的标准名称，已按对照表对应到标准类型"
        "（如“行政监督”对应06行政检查），原文照录。",
        "核对这一对应是否正确；编制新版清单时使用标准名称。",
    ),
)
RULES_BY_ID: Final = {rule.id: rule for rule in RULES}
SEVERITY_RANK: Final = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


# --- Issues -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueItem:
    """An item an issue is about, as it is now (the stored issue keeps this snapshot)."""

    id: int
    seq: int | None
    agency_id: int
    agency: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "agency": self.agency, "name": self.name}


@dataclass(frozen=True, slots=True)
class IssueData:
    """One problem found in the catalogue: written by no one until a run stores it."""

    rule: str
    severity: Severity
    message: str
    field: str | None
    items: tuple[IssueItem, ...]
    value: str | None = None
    details: dict[str, Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def item_ids(self) -> list[int]:
        return sorted(item.id for item in self.items)

    @property
    def agency_ids(self) -> list[int]:
        return sorted({item.agency_id for item in self.items})

    @property
    def flags(self) -> frozenset[tuple[str, str | None, str | None, int]]:
        """(rule, field, value, item id) for each item: what the issue says about each item.

        An issue that only loses items (a duplicate group shrinking) flags nothing new.
        """
        return frozenset((self.rule, self.field, self.value, item.id) for item in self.items)

    @property
    def fingerprint(self) -> str:
        """Equal across runs for the same problem: rule, field, the items involved and the value."""
        key = json.dumps([self.rule, self.field, self.item_ids, self.value], ensure_ascii=False)
        return hashlib.sha256(key.encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        """The issue in the public JSON shape (INTERFACE.md)."""
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "field": self.field,
            "items": [item.as_json() for item in self.items],
            "value": self.value,
        }


def ordered(items: Iterable[IssueItem]) -> tuple[IssueItem, ...]:
    """Items in the order of the printed lists: by agency, then 序号."""
    return tuple(sorted(items, key=lambda i: (i.agency_id, i.seq is None, i.seq or 0, i.id)))


def issue(
    rule_id: str,
    message: str,
    *,
    field: str | None,
    items: Iterable[IssueItem],
    value: str | None = None,
    details: dict[str, Any] | None = None,
) -> IssueData:
    """An issue of a known rule, with the rule's severity and its items in list order."""
    return IssueData(
        rule=rule_id,
        severity=RULES_BY_ID[rule_id].severity,
        message=message,
        field=field,
        items=ordered(items),
        value=value,
        details=details,
    )


def sort_key(issue: IssueData) -> tuple[Any, ...]:
    """Errors first, then by rule and by the first item in list order."""
    first = issue.items[0] if issue.items else None
    where = (first.agency_id, first.seq or 0, first.id) if first else (0, 0, 0)
    return (SEVERITY_RANK[issue.severity], issue.rule, where, issue.field or "", issue.value or "")


def describe_items(items: Sequence[IssueItem]) -> str:
    """ "民勤县医疗保障局第4、5、6项" – how a clerk finds the items in the printed lists."""
    by_agency: dict[str, list[str]] = {}
    for item in items:
        by_agency.setdefault(item.agency, []).append(
            str(item.seq) if item.seq is not None else f"（编号{item.id}）"
        )
    return "；".join(f"{agency}第{'、'.join(seqs)}项" for agency, seqs in by_agency.items())


# --- Agency levels and divisions --------------------------------------------------------------

_PROVINCE_LEVEL: Final = "2"
_CITY_LEVEL: Final = "3"
_COUNTY_LEVEL: Final = "4"
_GRADED: Final = "7"  # 分级管理: exercised at several levels, so it fits any agency
# Township and village items are exercised by bodies registered in the county (their credit
# codes carry the county's division), so 5 and 6 fit a county agency too.
_FITTING_LEVELS: Final = {
    _PROVINCE_LEVEL: {_PROVINCE_LEVEL},
    _CITY_LEVEL: {_CITY_LEVEL},
    _COUNTY_LEVEL: {_COUNTY_LEVEL, "5", "6"},
}
_MEDICAL_SECURITY_MARKERS: Final = ("医疗保障", "医保")
MEDICAL_SECURITY_DEPARTMENT: Final = "36"


def is_division(code: str | None) -> bool:
    return code is not None and len(code) == 6 and code.isascii() and code.isdigit()


def level_of_division(division: str) -> str:
    """Exercise level of a body registered in ``division`` (GB/T 2260).

    xx0000 is a province (2), xxxx00 a prefecture-level city (3), anything else a county,
    county-level city or district (4): 620982 敦煌市 is a county-level city under 酒泉市.
    """
    if division[2:] == "0000":
        return _PROVINCE_LEVEL
    if division[4:] == "00":
        return _CITY_LEVEL
    return _COUNTY_LEVEL


def is_medical_security(agency_name: str) -> bool:
    return any(marker in agency_name for marker in _MEDICAL_SECURITY_MARKERS)


# --- Per-item checks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What the per-item checks need of one active item, read in one streamed query."""

    id: int
    seq: int | None
    agency_id: int
    agency: str
    agency_division: str | None
    agency_level: str | None
    name: str
    sub_item_name: str | None
    power_type_code: str | None
    power_type_raw: str | None
    power_type_label: str | None  # standard label of power_type_code
    local_code: str | None
    sub_local_code: str | None
    exercising_body: str | None
    handling_unit: str | None
    has_legal_basis: bool
    has_responsibilities: bool
    has_accountability: bool

    @property
    def ref(self) -> IssueItem:
        return IssueItem(self.id, self.seq, self.agency_id, self.agency, self.name)


_FIELD_LABELS: Final = {
    "name": "事项名称",
    "power_type": "权力类型",
    "exercising_body": "行使主体",
    "legal_basis": "实施依据",
    "responsibilities": "责任事项内容",
    "accountability": "追责情形",
    "local_code": "地方权力编码",
    "sub_local_code": "子项地方权力编码",
}


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _missing_fields(f: ItemFacts) -> list[IssueData]:
    out: list[IssueData] = []
    present = {
        "name": not _blank(f.name),
        "power_type": f.power_type_code is not None,
        "exercising_body": not _blank(f.exercising_body),
        "legal_basis": f.has_legal_basis,
        "responsibilities": f.has_responsibilities,
        "accountability": f.has_accountability,
    }
    for name, ok in present.items():
        if ok:
            continue
        message = f"必填项“{_FIELD_LABELS[name]}”为空"
        value = None
        if name == "power_type" and not _blank(f.power_type_raw):
            value = f.power_type_raw
            message = f"权力类型“{f.power_type_raw}”不是已知的权力类型，无法对应标准代码"
        out.append(issue(MISSING_FIELD, message, field=name, items=[f.ref], value=value))
    return out


def _missing_code_and_unit(f: ItemFacts) -> list[IssueData]:
    out: list[IssueData] = []
    if _blank(f.local_code):
        out.append(
            issue(
                MISSING_CODE,
                "该事项没有地方权力编码：补录编码前无法按编码查询，行使层级也无从确定",
                field="local_code",
                items=[f.ref],
            )
        )
    elif (
        not _blank(f.sub_item_name)
        and _blank(f.sub_local_code)
        and f.local_code is not None
        and f.local_code[28:31] == "00Y"
    ):
        out.append(
            issue(
                MISSING_CODE,
                f"子项“{f.sub_item_name}”没有子项地方权力编码（主项编码以00Y结尾，表示有子项）",
                field="sub_local_code",
                items=[f.ref],
            )
        )
    if _blank(f.handling_unit):
        out.append(
            issue(
                MISSING_LEVEL_OR_HANDLING_UNIT,
                "承办机构为空：请填写具体办理该事项的内设机构",
                field="handling_unit",
                items=[f.ref],
            )
        )
    return out


def _nonstandard_label(f: ItemFacts) -> list[IssueData]:
    raw, code, label = f.power_type_raw, f.power_type_code, f.power_type_label
    if _blank(raw) or code is None or label is None or raw in (label, code):
        return []
    return [
        issue(
            NONSTANDARD_LABEL,
            f"权力类型按原文为“{raw}”，不是标准类型名称，已对应为“{code} {label}”：请核对",
            field="power_type",
            items=[f.ref],
            value=raw,
        )
    ]


def _shape(f: ItemFacts, field_name: str, decoded: codes.DecodedCode) -> list[IssueData]:
    code = decoded.normalized
    what = _FIELD_LABELS[field_name]
    shape = [p for p in decoded.problems if p.code != "code.check_digit"]
    digit = [p for p in decoded.problems if p.code == "code.check_digit"]
    out: list[IssueData] = []
    if shape:
        out.append(
            issue(
                SHAPE,
                f"{what}格式不正确：" + "；".join(p.message for p in shape),
                field=field_name,
                items=[f.ref],
                value=code,
                details={"problems": [p.code for p in shape]},
            )
        )
    if digit:
        out.append(
            issue(
                CHECK_DIGIT,
                f"{what}中的{digit[0].message}",
                field=field_name,
                items=[f.ref],
                value=code,
            )
        )
    return out


def _type_name(code: str, label: str | None) -> str:
    return f"{code} {label}" if label else code


def _agency_basis(f: ItemFacts, code_division: str) -> tuple[str, str] | None:
    """(expected level, what it is based on) for the item's agency."""
    if is_division(f.agency_division):
        assert f.agency_division is not None
        return level_of_division(f.agency_division), f"{f.agency}（行政区划{f.agency_division}）"
    if f.agency_level in codes.EXERCISE_LEVELS:
        assert f.agency_level is not None
        return f.agency_level, f"{f.agency}（登记层级）"
    if is_division(code_division):
        return level_of_division(code_division), f"信用代码中的行政区划{code_division}"
    return None


def _semantics(f: ItemFacts, field_name: str, parts: codes.CodeParts, code: str) -> list[IssueData]:
    """Checks 4–7 on the item's own code: segments that decode as invalid are left to check 1."""
    out: list[IssueData] = []
    ref = [f.ref]
    if (
        parts.type in codes.ITEM_TYPES
        and f.power_type_code is not None
        and parts.type != f.power_type_code
    ):
        out.append(
            issue(
                TYPE_MISMATCH,
                f"编码第22–23位事项类型为“{parts.type} {codes.POWER_TYPES[parts.type]}”，"
                f"但事项的权力类型是“{_type_name(f.power_type_code, f.power_type_label)}”",
                field=field_name,
                items=ref,
                value=code,
            )
        )
    code_division = parts.credit_code[2:8]
    basis = _agency_basis(f, code_division)
    if basis is not None and parts.level in codes.EXERCISE_LEVELS and parts.level != _GRADED:
        expected, why = basis
        if expected != _GRADED and parts.level not in _FITTING_LEVELS.get(expected, {expected}):
            out.append(
                issue(
                    LEVEL_MISMATCH,
                    f"编码第19位行使层级为“{parts.level}”（{codes.EXERCISE_LEVELS[parts.level]}），"
                    f"按{why}应为“{expected}”（{codes.EXERCISE_LEVELS[expected]}）",
                    field=field_name,
                    items=ref,
                    value=code,
                )
            )
    agency_division = f.agency_division if is_division(f.agency_division) else None
    if (
        agency_division is not None
        and is_division(code_division)
        and code_division != agency_division
    ):
        out.append(
            issue(
                DIVISION_MISMATCH,
                f"编码中统一社会信用代码第3–8位的行政区划为“{code_division}”，"
                f"与{f.agency}的行政区划“{agency_division}”不符",
                field=field_name,
                items=ref,
                value=code,
            )
        )
    home = agency_division or (code_division if is_division(code_division) else None)
    if home is not None and parts.region in codes.PROVINCE_CODES and parts.region != home[:2]:
        out.append(
            issue(
                REGION_MISMATCH,
                f"编码第20–21位区划码为“{parts.region}”，应为“00”（沿用国家目录）"
                f"或本省代码“{home[:2]}”",
                field=field_name,
                items=ref,
                value=code,
            )
        )
    if (
        is_medical_security(f.agency)
        and parts.department.isdigit()
        and parts.department != MEDICAL_SECURITY_DEPARTMENT
    ):
        out.append(
            issue(
                DEPARTMENT,
                f"编码第24–25位中央指导部门代码为“{parts.department}”，"
                "医疗保障部门的事项应为“36”（国家医疗保障局）",
                field=field_name,
                items=ref,
                value=code,
            )
        )
    return out


def _row_sub_item(
    f: ItemFacts, main: codes.DecodedCode | None, sub: codes.DecodedCode
) -> list[IssueData]:
    """A row that carries a sub-item code next to its main item's code (case of one row)."""
    problems: list[str] = []
    if main is None:
        problems.append("填写了子项地方权力编码，却没有主项的地方权力编码")
    elif main.parts is not None and sub.parts is not None:
        if not codes.is_parent(main.parts):
            problems.append(f"主项编码第29–31位为“{main.parts.sub}”，有子项的主项应为“00Y”")
        if codes.parent_prefix(main.normalized) != codes.parent_prefix(sub.normalized):
            problems.append("子项编码的前28位应与主项编码相同")
        if not codes.is_sub_item(sub.parts):
            problems.append(f"子项编码第29–31位为“{sub.parts.sub}”，子项应为001–999")
    if not problems:
        return []
    return [
        issue(
            SUB_ITEM,
            "；".join(problems),
            field="sub_local_code",
            items=[f.ref],
            value=sub.normalized,
        )
    ]


def check_item(f: ItemFacts) -> list[IssueData]:
    """Every per-item rule on one active item: fields, code shape and check digit, checks 4–7."""
    out = [*_missing_fields(f), *_missing_code_and_unit(f), *_nonstandard_label(f)]
    decoded: dict[str, codes.DecodedCode] = {}
    for field_name in _CODE_FIELDS:
        raw = getattr(f, field_name)
        if not _blank(raw):
            decoded[field_name] = codes.decode(raw)
            out += _shape(f, field_name, decoded[field_name])
    own_field = "sub_local_code" if "sub_local_code" in decoded else "local_code"
    own = decoded.get(own_field)
    if own is not None and own.parts is not None:
        out += _semantics(f, own_field, own.parts, own.normalized)
    if "sub_local_code" in decoded:
        out += _row_sub_item(f, decoded.get("local_code"), decoded["sub_local_code"])
    return out
