"""What every list parser returns: raw cells of each item, traceable to the source."""

from __future__ import annotations

from dataclasses import dataclass, field

# Field names of a parsed item, in the order of the published lists' columns.
ITEM_FIELDS: tuple[str, ...] = (
    "name",
    "sub_item_name",
    "power_type",
    "local_code",
    "sub_local_code",
    "exercising_body",
    "handling_unit",
    "legal_basis",
    "responsibilities",
    "accountability",
    "remarks",
)


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A defect found while parsing: kept and reported, never fatal on its own."""

    code: str  # stable dotted id, e.g. "import.duplicate_row"
    message: str  # Chinese, for a catalogue clerk
    line: int | None = None  # 1-based first line in the source file
    line_end: int | None = None
    field: str | None = None
    severity: str = "warning"  # "error" | "warning" | "info"


@dataclass(slots=True)
class ParsedItem:
    """One item as printed in the source list.

    `cells` maps names from ITEM_FIELDS to the raw cell text exactly as the source has it
    (line breaks of a PDF cell kept as "\\n", HTML kept); the import service cleans them.
    A field the layout does not have is absent from `cells`.
    """

    seq: int | None
    cells: dict[str, str]
    line: int  # 1-based first line of the item in the source file
    line_end: int  # 1-based last line
    page: int | None = None
    # Set by layouts that carry the agency per row (exports of a whole catalogue).
    agency: str | None = None
    # Set by exports read back: "withdrawn" rows stay withdrawn; lists carry no status (active).
    status: str | None = None


@dataclass(slots=True)
class ParseResult:
    items: list[ParsedItem] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    title: str | None = None  # the list's title line, e.g. "敦煌市医疗保障局权责清单"
