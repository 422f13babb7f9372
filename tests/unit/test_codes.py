"""Unit tests for app.services.codes: decoding, check characters, helpers and make_code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.codes import (
    ALPHABET,
    CREDIT_WEIGHTS,
    ITEM_TYPES,
    POWER_TYPES,
    PROVINCE_CODES,
    CodeParts,
    DecodedCode,
    basic_code,
    credit_check_char,
    decode,
    division_of,
    is_parent,
    is_sub_item,
    make_code,
    normalize,
    org_code_check_ok,
    parent_prefix,
)

MINQIN = "11620621MB176555834620236001000"

# Real published codes (reference/codes.md) with their documented parts, written out by hand.
REAL_CODES: list[tuple[str, CodeParts]] = [
    (
        MINQIN,
        CodeParts("11620621MB17655583", "4", "62", "02", "36", "001", "000", None),
    ),
    (
        "11620621MB176555834621036001000",
        CodeParts("11620621MB17655583", "4", "62", "10", "36", "001", "000", None),
    ),
    (
        "11450721MB155808114000104002000",
        CodeParts("11450721MB15580811", "4", "00", "01", "04", "002", "000", None),
    ),
    (
        "1145072100811537184452004020000",
        CodeParts("114507210081153718", "4", "45", "20", "04", "020", "000", None),
    ),
    (
        "11440100007482575H3440118009000",
        CodeParts("11440100007482575H", "3", "44", "01", "18", "009", "000", None),
    ),
    (
        "11440300MB2D0722464440127028001",
        CodeParts("11440300MB2D072246", "4", "44", "01", "27", "028", "001", None),
    ),
]
REAL_CODE_STRINGS = [code for code, _ in REAL_CODES]


def problem_codes(decoded: DecodedCode) -> list[str]:
    return [problem.code for problem in decoded.problems]


def replace_at(code: str, position: int, char: str) -> str:
    """Replace the character at 1-based ``position``."""
    return code[: position - 1] + char + code[position:]


# --- Real codes and the documented example ------------------------------------------------------


@pytest.mark.parametrize(("code", "parts"), REAL_CODES)
def test_real_codes_decode_valid_with_documented_parts(code: str, parts: CodeParts) -> None:
    decoded = decode(code)
    assert decoded.valid, decoded.problems
    assert decoded.problems == ()
    assert decoded.normalized == code
    assert decoded.parts == parts


@pytest.mark.parametrize("code", REAL_CODE_STRINGS)
def test_real_codes_rebuilt_by_make_code(code: str) -> None:
    p = decode(code).parts
    assert p is not None
    rebuilt = make_code(p.credit_code[:17], p.level, p.region, p.type, p.department, p.main, p.sub)
    assert rebuilt == code


def test_check_digit_example() -> None:
    assert credit_check_char("11620621MB1765558") == "3"


@pytest.mark.parametrize("bad", ["", "1162062", "11620621MB17655588", "11620621MB1765558I"])
def test_credit_check_char_rejects_wrong_length_or_alphabet(bad: str) -> None:
    assert credit_check_char(bad) is None


def test_credit_check_char_needs_upper_case() -> None:
    assert credit_check_char("11620621mb1765558") is None


def test_changed_18th_character_fails_check_digit() -> None:
    decoded = decode("11620621MB176555844620236001000")  # 18th char 3 → 4
    assert not decoded.valid
    assert problem_codes(decoded) == ["code.check_digit"]
    assert decoded.problems[0].position == 18
    assert "3" in decoded.problems[0].message  # tells the clerk the expected check character
    assert decoded.parts is not None
    assert decoded.parts.credit_code == "11620621MB17655584"


# --- Normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "１１６２０６２１ＭＢ１７６５５５８３４６２０２３６００１０００",
        "１１６２０６２１ｍｂ１７６５５５８３\u3000４\u3000６２\u3000０２\u3000３６\u3000００１\u3000０００",
        "  11620621mb1765558 3 4 62 02 36 001 000\n",
        "\t11620621MB176555834620236001000\r\n",
        "\ufeff11620621MB17655583\u200b4620236001000\u00a0",
        "11620621Mb1765558 34 620236 001000",
    ],
)
def test_full_width_and_spaced_input_normalises(raw: str) -> None:
    assert normalize(raw) == MINQIN
    decoded = decode(raw)
    assert decoded.valid
    assert decoded.normalized == MINQIN


def test_normalize_keeps_non_ascii_in_place() -> None:
    # Only ASCII is upper-cased, so an odd character keeps its position for the error message.
    assert normalize("aß中") == "Aß中"
    decoded = decode(replace_at(MINQIN, 26, "中"))
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position == 26


# --- 33-character codes -------------------------------------------------------------------------


def test_33_character_code_with_handling() -> None:
    decoded = decode(MINQIN + "01")
    assert decoded.valid
    assert decoded.parts is not None
    assert decoded.parts.handling == "01"
    assert decoded.parts.sub == "000"


def test_31_character_code_has_no_handling() -> None:
    parts = decode(MINQIN).parts
    assert parts is not None
    assert parts.handling is None


def test_33_character_code_with_letter_in_handling() -> None:
    decoded = decode(MINQIN + "0A")
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position == 33


def test_make_code_with_handling() -> None:
    code = make_code("11620621MB1765558", "4", "62", "02", "36", "001", "000", handling="07")
    assert code == MINQIN + "07"


# --- Bad shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["", "1", MINQIN[:30], MINQIN + "0", MINQIN + "012"])
def test_bad_lengths(code: str) -> None:
    decoded = decode(code)
    assert not decoded.valid
    assert decoded.parts is None
    assert problem_codes(decoded) == ["code.length"]
    assert str(len(code)) in decoded.problems[0].message


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
@pytest.mark.parametrize("position", [1, 9, 10, 17, 18])
def test_forbidden_letters_in_credit_code(letter: str, position: int) -> None:
    decoded = decode(replace_at(MINQIN, position, letter))
    assert not decoded.valid
    assert problem_codes(decoded) == ["code.alphabet"]  # no check digit can be computed
    assert decoded.problems[0].position == position
    assert decoded.parts is not None  # the clerk still sees the segments


def test_lower_case_forbidden_letter_is_still_forbidden() -> None:
    decoded = decode(replace_at(MINQIN, 10, "o"))
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.normalized[9] == "O"


@pytest.mark.parametrize("level", ["0", "8", "9"])
def test_level_out_of_range(level: str) -> None:
    decoded = decode(replace_at(MINQIN, 19, level))
    assert problem_codes(decoded) == ["code.level"]
    assert decoded.problems[0].position == 19
    assert decoded.parts is not None
    assert decoded.parts.level == level


@pytest.mark.parametrize("level", ["1", "2", "3", "4", "5", "6", "7"])
def test_levels_one_to_seven_are_valid(level: str) -> None:
    assert decode(replace_at(MINQIN, 19, level)).valid


def test_letter_level_is_an_alphabet_problem() -> None:
    decoded = decode(replace_at(MINQIN, 19, "A"))
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position == 19


@pytest.mark.parametrize("sub", ["0Y0", "Y00", "0YY", "YYY"])
def test_misplaced_y_in_sub_item(sub: str) -> None:
    decoded = decode(MINQIN[:28] + sub)
    assert problem_codes(decoded) == ["code.sub_item"]
    assert decoded.problems[0].position == 29
    assert decoded.parts is not None
    assert decoded.parts.sub == sub


def test_other_letter_in_sub_item_is_an_alphabet_problem() -> None:
    decoded = decode(MINQIN[:28] + "00A")
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position == 31


@pytest.mark.parametrize("sub", ["000", "00Y", "001", "010", "999", "00y"])
def test_valid_sub_items(sub: str) -> None:
    assert decode(MINQIN[:28] + sub).valid


@pytest.mark.parametrize("region", ["01", "10", "16", "47", "66", "70", "83", "99"])
def test_region_not_a_province(region: str) -> None:
    decoded = decode(MINQIN[:19] + region + MINQIN[21:])
    assert problem_codes(decoded) == ["code.region"]
    assert decoded.problems[0].position == 20


@pytest.mark.parametrize("region", ["00", *sorted(PROVINCE_CODES)])
def test_region_national_or_province(region: str) -> None:
    assert decode(MINQIN[:19] + region + MINQIN[21:]).valid


def test_province_list() -> None:
    assert len(PROVINCE_CODES) == 34
    assert {"11", "62", "65", "71", "81", "82"} <= PROVINCE_CODES


def test_type_00_umbrella_is_not_a_single_item_type() -> None:
    decoded = decode(MINQIN[:21] + "00" + MINQIN[23:])
    assert problem_codes(decoded) == ["code.type_unknown"]
    assert decoded.problems[0].position == 22
    assert "总类" in decoded.problems[0].message
    assert "00" in POWER_TYPES
    assert "00" not in ITEM_TYPES


@pytest.mark.parametrize("type_", ["11", "12", "19", "21", "30", "99"])
def test_unknown_type(type_: str) -> None:
    decoded = decode(MINQIN[:21] + type_ + MINQIN[23:])
    assert problem_codes(decoded) == ["code.type_unknown"]


@pytest.mark.parametrize("type_", sorted(ITEM_TYPES))
def test_every_single_item_type_is_valid(type_: str) -> None:
    assert decode(MINQIN[:21] + type_ + MINQIN[23:]).valid


def test_item_types_match_reference() -> None:
    expected = {f"{n:02d}" for n in range(1, 11)} | {"20"}
    assert expected == ITEM_TYPES


@pytest.mark.parametrize("main", ["A01", "0B1", "XY9", "00A", "HJK"])
def test_public_service_main_may_contain_letters(main: str) -> None:
    code = make_code("11620621MB1765558", "4", "62", "20", "36", main, "000")
    assert decode(code).valid


@pytest.mark.parametrize("main", ["0I1", "O01", "00Z", "S00", "0V0"])
def test_public_service_main_rejects_forbidden_letters(main: str) -> None:
    code = make_code("11620621MB1765558", "4", "62", "20", "36", main, "000")
    decoded = decode(code)
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position is not None
    assert 26 <= decoded.problems[0].position <= 28


def test_letters_in_main_only_for_public_service() -> None:
    decoded = decode(MINQIN[:25] + "A01" + MINQIN[28:])
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position == 26


@pytest.mark.parametrize("type_", ["02", "20"])
def test_main_000_is_invalid(type_: str) -> None:
    code = make_code("11620621MB1765558", "4", "62", type_, "36", "000", "000")
    decoded = decode(code)
    assert problem_codes(decoded) == ["code.main_item"]
    assert decoded.problems[0].position == 26


def test_letter_in_department() -> None:
    decoded = decode(MINQIN[:23] + "3A" + MINQIN[25:])
    assert problem_codes(decoded) == ["code.alphabet"]
    assert decoded.problems[0].position == 25


def test_several_problems_are_all_reported_in_order() -> None:
    code = make_code("11620621MB1765558", "9", "99", "00", "36", "001", "0Y0")
    code = replace_at(code, 18, "4")
    decoded = decode(code)
    assert problem_codes(decoded) == [
        "code.check_digit",
        "code.level",
        "code.region",
        "code.type_unknown",
        "code.sub_item",
    ]
    assert [p.position for p in decoded.problems] == [18, 19, 20, 22, 29]
    assert all(p.message for p in decoded.problems)
    assert decoded.parts == CodeParts(
        "11620621MB17655584", "9", "99", "00", "36", "001", "0Y0", None
    )


# --- Organization code (GB 11714) ---------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_CODE_STRINGS)
def test_org_code_check_on_real_codes(code: str) -> None:
    assert org_code_check_ok(code)
    assert org_code_check_ok(code[:18])


def test_org_code_check_fails_on_changed_character() -> None:
    assert not org_code_check_ok(replace_at(MINQIN, 12, "8"))
    assert not org_code_check_ok("11620621")
    assert not org_code_check_ok(replace_at(MINQIN, 12, "*"))


def test_org_code_check_x_and_zero() -> None:
    prefix = "91110000"  # credit-code characters 1–8; the organization code starts at 9
    assert org_code_check_ok(prefix + "D2143569X")  # GB 11714 example: Σ = 199, 11 − 1 = 10 → X
    assert org_code_check_ok(prefix + "00000006X")  # 6·2 = 12 ≡ 1 → 10 → X
    assert org_code_check_ok(prefix + "000000000")  # Σ ≡ 0 → 11 → 0
    assert not org_code_check_ok(prefix + "D21435690")
    assert not org_code_check_ok(prefix + "D2143569x")


# --- Helpers ------------------------------------------------------------------------------------


def test_division_basic_and_parent_prefix() -> None:
    code = "11440300MB2D0722464440127028001"
    assert division_of(code) == "440300"
    assert division_of(code[:18]) == "440300"
    assert basic_code(code) == "440127028001"
    assert basic_code(code + "01") == "440127028001"
    assert parent_prefix(code) == "11440300MB2D0722464440127028"


@pytest.mark.parametrize(
    ("func", "arg"),
    [(division_of, "1162"), (basic_code, MINQIN[:30]), (parent_prefix, MINQIN[:27])],
)
def test_helpers_reject_short_input(func: object, arg: str) -> None:
    assert callable(func)
    with pytest.raises(ValueError, match="at least"):
        func(arg)


@pytest.mark.parametrize(
    ("sub", "sub_item", "parent"),
    [("000", False, False), ("00Y", False, True), ("001", True, False), ("999", True, False)],
)
def test_sub_item_and_parent(sub: str, sub_item: bool, parent: bool) -> None:
    parts = decode(MINQIN[:28] + sub).parts
    assert parts is not None
    assert is_sub_item(parts) is sub_item
    assert is_parent(parts) is parent


def test_child_shares_parent_prefix() -> None:
    parent = MINQIN[:28] + "00Y"
    child = MINQIN[:28] + "003"
    assert parent_prefix(parent) == parent_prefix(child)


@pytest.mark.parametrize(
    "args",
    [
        ("11620621MB176555", "4", "62", "02", "36", "001", "000"),
        ("11620621MB176555I", "4", "62", "02", "36", "001", "000"),
        ("11620621MB1765558", "44", "62", "02", "36", "001", "000"),
        ("11620621MB1765558", "4", "62", "02", "36", "01", "000"),
        ("11620621MB1765558", "4", "62", "02", "36", "001", "0000"),
    ],
)
def test_make_code_rejects_bad_lengths(args: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="must be"):
        make_code(*args)


def test_make_code_rejects_bad_handling_length() -> None:
    with pytest.raises(ValueError, match="handling"):
        make_code("11620621MB1765558", "4", "62", "02", "36", "001", "000", handling="1")


# --- Properties ---------------------------------------------------------------------------------

credit17s = st.text(alphabet=ALPHABET, min_size=17, max_size=17)
numbered = st.integers(1, 999).map(lambda n: f"{n:03d}")


@st.composite
def valid_parts(draw: st.DrawFn) -> tuple[str, str, str, str, str, str, str, str | None]:
    credit17 = draw(credit17s)
    level = draw(st.sampled_from("1234567"))
    region = draw(st.sampled_from(["00", *sorted(PROVINCE_CODES)]))
    type_ = draw(st.sampled_from(sorted(ITEM_TYPES)))
    department = draw(st.integers(0, 99).map(lambda n: f"{n:02d}"))
    if type_ == "20":
        main = draw(st.text(alphabet=ALPHABET, min_size=3, max_size=3).filter(lambda m: m != "000"))
    else:
        main = draw(numbered)
    sub = draw(st.one_of(st.sampled_from(["000", "00Y"]), numbered))
    handling = draw(st.none() | st.integers(0, 99).map(lambda n: f"{n:02d}"))
    return credit17, level, region, type_, department, main, sub, handling


@settings(max_examples=300, deadline=None)
@given(valid_parts())
def test_make_code_round_trips(
    parts: tuple[str, str, str, str, str, str, str, str | None],
) -> None:
    credit17, level, region, type_, department, main, sub, handling = parts
    code = make_code(credit17, level, region, type_, department, main, sub, handling=handling)
    decoded = decode(code)
    assert decoded.valid, decoded.problems
    assert decoded.normalized == code
    assert decoded.parts == CodeParts(
        credit17 + code[17], level, region, type_, department, main, sub, handling
    )
    assert basic_code(code) == region + type_ + department + main + sub


@settings(max_examples=150, deadline=None)
@given(valid_parts(), st.data())
def test_normalisation_is_transparent(
    parts: tuple[str, str, str, str, str, str, str, str | None], data: st.DataObject
) -> None:
    credit17, level, region, type_, department, main, sub, handling = parts
    code = make_code(credit17, level, region, type_, department, main, sub, handling=handling)
    messy = []
    for char in code:
        if data.draw(st.booleans()):
            char = chr(ord(char) + 0xFEE0)  # full-width form
        if data.draw(st.booleans()):
            char = char.lower()
        messy.append(char + data.draw(st.sampled_from(["", "", " ", "\u3000", "\t"])))
    decoded = decode("".join(messy))
    assert decoded.normalized == code
    assert decoded.valid


def _weight(position: int) -> int:
    """Effective weight of 1-based credit-code position: the check character (18) counts once."""
    return CREDIT_WEIGHTS[position - 1] if position <= 17 else 1


def test_every_single_substitution_is_caught_mathematically() -> None:
    # A valid credit code satisfies Σ v_i·w_i + v_18 ≡ 0 (mod 31). Replacing one character changes
    # the sum by w·d with d = new − old ∈ ±1..30. 31 is prime and no weight is ≡ 0 (mod 31), so
    # w·d is never ≡ 0: every single substitution within the alphabet is detected.
    for position in range(1, 19):
        for delta in range(1, 31):
            assert (_weight(position) * delta) % 31 != 0
            assert (_weight(position) * -delta) % 31 != 0


@settings(max_examples=300, deadline=None)
@given(valid_parts(), st.integers(1, 18), st.data())
def test_any_single_substitution_in_first_18_is_caught(
    parts: tuple[str, str, str, str, str, str, str, str | None],
    position: int,
    data: st.DataObject,
) -> None:
    credit17, level, region, type_, department, main, sub, handling = parts
    code = make_code(credit17, level, region, type_, department, main, sub, handling=handling)
    old = code[position - 1]
    new = data.draw(st.sampled_from([c for c in ALPHABET if c != old]))
    decoded = decode(replace_at(code, position, new))
    assert problem_codes(decoded) == ["code.check_digit"]


@pytest.mark.parametrize("code", REAL_CODE_STRINGS)
def test_every_single_substitution_of_real_codes_is_caught(code: str) -> None:
    # Exhaustive: 18 positions × 30 other alphabet characters per real code.
    for position in range(1, 19):
        for new in ALPHABET:
            if new != code[position - 1]:
                decoded = decode(replace_at(code, position, new))
                assert problem_codes(decoded) == ["code.check_digit"], (position, new)


@settings(max_examples=200, deadline=None)
@given(credit17s, st.integers(1, 17))
def test_adjacent_transpositions_are_caught(credit17: str, position: int) -> None:
    # Swapping positions i, i+1 changes the sum by (a−b)(w_i − w_{i+1}); w_{i+1} = 3·w_i and the
    # check character's weight 1 differs from w_17 = 28, so the difference is never ≡ 0 (mod 31).
    credit = credit17 + (credit_check_char(credit17) or "")
    a, b = credit[position - 1], credit[position]
    swapped = credit[: position - 1] + b + a + credit[position + 1 :]
    assert (credit_check_char(swapped[:17]) == swapped[17]) is (a == b)


def test_known_blind_spot_swapping_first_and_check_character() -> None:
    # Not a single substitution, but worth knowing: position 1 has weight 1, the same weight as the
    # check character itself, so swapping characters 1 and 18 is NEVER detected by GB 32100.
    assert _weight(1) == _weight(18)
    swapped = "3" + MINQIN[1:17] + "1" + MINQIN[18:]
    assert swapped != MINQIN
    assert decode(swapped).valid
    # Every other pair of positions has distinct weights, so no other swap is systematically missed.
    weights = [_weight(p) for p in range(1, 19)]
    assert len(set(weights)) == 17
