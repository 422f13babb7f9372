"""Decode, check and build power-item implementation codes (实施编码, GB 32100 / GB/T 39046)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "CODE_LENGTH_WITH_HANDLING",
    "CREDIT_WEIGHTS",
    "DIGITS",
    "EXERCISE_LEVELS",
    "ITEM_TYPES",
    "ORG_CODE_WEIGHTS",
    "POWER_TYPES",
    "PROVINCE_CODES",
    "CodeParts",
    "CodeProblem",
    "DecodedCode",
    "basic_code",
    "credit_check_char",
    "decode",
    "division_of",
    "is_parent",
    "is_sub_item",
    "make_code",
    "normalize",
    "org_code_check_ok",
    "parent_prefix",
]

# --- GB 32100 unified social credit code --------------------------------------------------------

#: Characters of the unified social credit code, in value order (no I, O, Z, S, V).
ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ALPHABET_VALUE: Final[Mapping[str, int]] = MappingProxyType({c: i for i, c in enumerate(ALPHABET)})
#: Weights of credit-code positions 1–17 (3**(i-1) mod 31).
CREDIT_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_MODULUS: Final = 31

#: GB 11714 organization code weights over its first 8 characters (credit-code chars 9–16).
ORG_CODE_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)

DIGITS: Final = "0123456789"

# --- Segment layout (0-based slices of the normalised code) -------------------------------------

CODE_LENGTH: Final = 31
CODE_LENGTH_WITH_HANDLING: Final = 33
_CREDIT: Final = slice(0, 18)
_LEVEL: Final = slice(18, 19)
_REGION: Final = slice(19, 21)
_TYPE: Final = slice(21, 23)
_DEPARTMENT: Final = slice(23, 25)
_MAIN: Final = slice(25, 28)
_SUB: Final = slice(28, 31)
_HANDLING: Final = slice(31, 33)

#: Power types of GB/T 39046-2020 A.1 (reference/power-types.csv).
POWER_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "00": "行政权力事项",
        "01": "行政许可",
        "02": "行政处罚",
        "03": "行政强制",
        "04": "行政征收",
        "05": "行政给付",
        "06": "行政检查",
        "07": "行政确认",
        "08": "行政奖励",
        "09": "行政裁决",
        "10": "其他行政权力",
        "20": "公共服务",
    }
)
_UMBRELLA_TYPE: Final = "00"
#: Types a single item's code may carry. "00" (行政权力事项) is the umbrella category of all
#: administrative powers, never the type of one item, so a code with type 00 is rejected.
ITEM_TYPES: Final = frozenset(POWER_TYPES) - {_UMBRELLA_TYPE}
_PUBLIC_SERVICE_TYPE: Final = "20"

#: Exercise levels (reference/exercise-levels.csv).
EXERCISE_LEVELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "1": "国家级",
        "2": "省级",
        "3": "市级",
        "4": "县级",
        "5": "乡镇（街道）级",
        "6": "村（社区）级",
        "7": "分级管理",
    }
)

#: GB/T 2260 province-level codes (first two digits of a division code).
PROVINCE_CODES: Final = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)
_NATIONAL_REGION: Final = "00"
_NO_SUB_ITEMS: Final = "000"
_PARENT_SUB: Final = "00Y"

# --- Normalisation ------------------------------------------------------------------------------

# Full-width ASCII variants (U+FF01–U+FF5E) map to U+0021–U+007E; U+3000 is the ideographic space.
_HALF_WIDTH: Final = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Invisible characters that spreadsheets and web pages leave in copied codes.
_INVISIBLE: Final = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WHITESPACE: Final = re.compile(r"\s+")


def normalize(raw: str) -> str:
    """Full-width → half-width, drop all whitespace and invisible characters, upper-case ASCII.

    Only ASCII letters are upper-cased, so any other character keeps its place (and length) and
    is reported by :func:`decode` at its position.
    """
    text = raw.translate(_HALF_WIDTH).translate(_INVISIBLE)
    return _WHITESPACE.sub("", text).translate(_ASCII_UPPER)


# --- Check characters ---------------------------------------------------------------------------


def credit_check_char(first17: str) -> str | None:
    """GB 32100 check character for the first 17 credit-code characters.

    Returns None unless ``first17`` is exactly 17 characters of :data:`ALPHABET` (upper case).
    """
    if len(first17) != len(CREDIT_WEIGHTS):
        return None
    total = 0
    for char, weight in zip(first17, CREDIT_WEIGHTS, strict=True):
        value = _ALPHABET_VALUE.get(char)
        if value is None:
            return None
        total += value * weight
    return ALPHABET[(_MODULUS - total % _MODULUS) % _MODULUS]


def _org_char_value(char: str) -> int | None:
    if char in DIGITS:
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    return None


def org_code_check_ok(credit_code: str) -> bool:
    """GB 11714 check of the organization code held in credit-code characters 9–17.

    Accepts an 18-character credit code or a whole implementation code (same positions). The check
    is optional: some bodies' characters 9–17 are not a GB 11714 code, so a failure is not an error.
    """
    org = credit_code[8:17]
    if len(org) != len(ORG_CODE_WEIGHTS) + 1:
        return False
    total = 0
    for char, weight in zip(org[:-1], ORG_CODE_WEIGHTS, strict=True):
        value = _org_char_value(char)
        if value is None:
            return False
        total += value * weight
    check = 11 - total % 11
    expected = {10: "X", 11: "0"}.get(check, str(check))
    return org[-1] == expected


# --- Decoded form -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeParts:
    """Segments of an implementation code; ``handling`` is None for the 31-character form."""

    credit_code: str
    level: str
    region: str
    type: str
    department: str
    main: str
    sub: str
    handling: str | None


@dataclass(frozen=True, slots=True)
class CodeProblem:
    """One reason a code is invalid: stable dotted ``code``, Chinese message, 1-based position."""

    code: str
    message: str
    position: int | None = None


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """Result of :func:`decode`. ``parts`` is set whenever the length is right, even if invalid."""

    normalized: str
    valid: bool
    parts: CodeParts | None
    problems: tuple[CodeProblem, ...]


def _all_digits(text: str) -> bool:
    return all(char in DIGITS for char in text)


def _parts_of(code: str) -> CodeParts:
    return CodeParts(
        credit_code=code[_CREDIT],
        level=code[_LEVEL],
        region=code[_REGION],
        type=code[_TYPE],
        department=code[_DEPARTMENT],
        main=code[_MAIN],
        sub=code[_SUB],
        handling=code[_HANDLING] if len(code) == CODE_LENGTH_WITH_HANDLING else None,
    )


def _bad_chars(code: str, segment: slice, allowed: str, what: str, rule: str) -> list[CodeProblem]:
    """One code.alphabet problem per character of ``segment`` outside ``allowed``."""
    problems = []
    for index in range(segment.start, segment.stop):
        char = code[index]
        if char not in allowed:
            problems.append(
                CodeProblem(
                    "code.alphabet",
                    f"第{index + 1}位“{char}”不是合法字符：{what}{rule}",
                    index + 1,
                )
            )
    return problems


def _check_credit(code: str) -> list[CodeProblem]:
    problems = _bad_chars(
        code, _CREDIT, ALPHABET, "统一社会信用代码", "只能使用数字和除 I、O、Z、S、V 以外的大写字母"
    )
    if problems:
        return problems
    expected = credit_check_char(code[:17])
    actual = code[17]
    if expected != actual:
        problems.append(
            CodeProblem(
                "code.check_digit",
                f"统一社会信用代码校验不通过：按前17位计算，第18位应为“{expected}”，实为“{actual}”；"
                "前18位中可能有字符录入错误",
                18,
            )
        )
    return problems


def _check_level(code: str) -> list[CodeProblem]:
    level = code[_LEVEL]
    if level not in DIGITS:
        return _bad_chars(code, _LEVEL, DIGITS, "行使层级", "应为数字")
    if level not in EXERCISE_LEVELS:
        return [
            CodeProblem(
                "code.level",
                f"第19位行使层级“{level}”无效，应为1–7"
                "（1国家级、2省级、3市级、4县级、5乡镇（街道）级、6村（社区）级、7分级管理）",
                19,
            )
        ]
    return []


def _check_region(code: str) -> list[CodeProblem]:
    problems = _bad_chars(code, _REGION, DIGITS, "区划码", "应为数字")
    region = code[_REGION]
    if not problems and region != _NATIONAL_REGION and region not in PROVINCE_CODES:
        problems.append(
            CodeProblem(
                "code.region",
                f"第20–21位区划码“{region}”无效：应为00（国家目录事项）或省级行政区划代码前两位",
                20,
            )
        )
    return problems


def _check_type(code: str) -> list[CodeProblem]:
    problems = _bad_chars(code, _TYPE, DIGITS, "事项类型", "应为数字")
    type_ = code[_TYPE]
    if problems:
        return problems
    if type_ == _UMBRELLA_TYPE:
        problems.append(
            CodeProblem(
                "code.type_unknown",
                "第22–23位事项类型“00”是“行政权力事项”总类，不能作为单个事项的类型，应为01–10或20",
                22,
            )
        )
    elif type_ not in ITEM_TYPES:
        problems.append(
            CodeProblem(
                "code.type_unknown",
                f"第22–23位事项类型“{type_}”不在权力类型代码表中，应为01–10或20",
                22,
            )
        )
    return problems


def _check_main(code: str) -> list[CodeProblem]:
    if code[_TYPE] == _PUBLIC_SERVICE_TYPE:
        problems = _bad_chars(
            code,
            _MAIN,
            ALPHABET,
            "主项顺序码",
            "公共服务事项可用数字和除 I、O、Z、S、V 以外的大写字母",
        )
    else:
        problems = _bad_chars(
            code, _MAIN, DIGITS, "主项顺序码", "应为数字（仅公共服务事项可含字母）"
        )
    if not problems and code[_MAIN] == "000":
        problems.append(
            CodeProblem("code.main_item", "第26–28位主项顺序码不能为000，应从001起编", 26)
        )
    return problems


def _check_sub(code: str) -> list[CodeProblem]:
    problems = _bad_chars(code, _SUB, DIGITS + "Y", "子项码", "应为数字或00Y")
    sub = code[_SUB]
    if not problems and sub != _PARENT_SUB and not _all_digits(sub):
        problems.append(
            CodeProblem(
                "code.sub_item",
                f"第29–31位子项码“{sub}”无效：应为000（无子项）、00Y（有子项的主项）或001–999（子项）",
                29,
            )
        )
    return problems


def decode(raw: str) -> DecodedCode:
    """Normalise ``raw`` and check it as a 31-character implementation code or 33 with handling.

    Positions in problems are 1-based positions in the normalised code. A segment whose characters
    are out of its alphabet gets code.alphabet problems only, not also its semantic problem.
    """
    code = normalize(raw)
    if len(code) not in (CODE_LENGTH, CODE_LENGTH_WITH_HANDLING):
        problem = CodeProblem(
            "code.length",
            f"编码长度为{len(code)}位，应为31位（实施编码）或33位（含2位业务办理项编码）",
        )
        return DecodedCode(normalized=code, valid=False, parts=None, problems=(problem,))
    problems = [
        *_check_credit(code),
        *_check_level(code),
        *_check_region(code),
        *_check_type(code),
        *_bad_chars(code, _DEPARTMENT, DIGITS, "中央指导部门代码", "应为数字"),
        *_check_main(code),
        *_check_sub(code),
    ]
    if len(code) == CODE_LENGTH_WITH_HANDLING:
        problems += _bad_chars(code, _HANDLING, DIGITS, "业务办理项编码", "应为数字")
    return DecodedCode(
        normalized=code, valid=not problems, parts=_parts_of(code), problems=tuple(problems)
    )


# --- Helpers for the validator ------------------------------------------------------------------


def _require(code: str, length: int, what: str) -> None:
    if len(code) < length:
        raise ValueError(f"{what} needs at least {length} characters, got {len(code)}")


def division_of(credit_code: str) -> str:
    """Administrative division (GB/T 2260) in characters 3–8 of a credit or implementation code."""
    _require(credit_code, 8, "division_of")
    return credit_code[2:8]


def basic_code(code: str) -> str:
    """Basic code (基本编码): characters 20–31 = region + type + department + main + sub."""
    _require(code, CODE_LENGTH, "basic_code")
    return code[19:31]


def parent_prefix(code: str) -> str:
    """First 28 characters: what a sub-item shares with its 00Y parent."""
    _require(code, 28, "parent_prefix")
    return code[:28]


def is_sub_item(parts: CodeParts) -> bool:
    """True for a sub-item code (sub 001–999)."""
    return len(parts.sub) == 3 and _all_digits(parts.sub) and parts.sub != _NO_SUB_ITEMS


def is_parent(parts: CodeParts) -> bool:
    """True for a main item that has sub-items (sub 00Y)."""
    return parts.sub == _PARENT_SUB


# --- Construction -------------------------------------------------------------------------------

_SEGMENT_LENGTHS: Final = (
    ("level", 1),
    ("region", 2),
    ("type_", 2),
    ("department", 2),
    ("main", 3),
    ("sub", 3),
)


def make_code(
    credit17: str,
    level: str,
    region: str,
    type_: str,
    department: str,
    main: str,
    sub: str,
    *,
    handling: str | None = None,
) -> str:
    """Build a code from its segments, computing the credit-code check character.

    Only lengths and the credit-code alphabet are enforced (so deliberately invalid codes can be
    built for tests); :func:`decode` the result to check it. Raises ValueError otherwise.
    """
    check = credit_check_char(credit17)
    if check is None:
        raise ValueError("credit17 must be 17 characters of the GB 32100 alphabet")
    segments = (level, region, type_, department, main, sub)
    for (name, length), value in zip(_SEGMENT_LENGTHS, segments, strict=True):
        if len(value) != length:
            raise ValueError(f"{name} must be {length} characters, got {len(value)}")
    if handling is not None and len(handling) != 2:
        raise ValueError(f"handling must be 2 characters, got {len(handling)}")
    return credit17 + check + "".join(segments) + (handling or "")
