"""From raw parsed cells to catalogue values: cleaned text, codes, power type, citations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.services import power_types
from app.services.citations import extract_citations
from app.services.codes import CODE_LENGTH, decode
from app.services.importers.records import ParsedItem, ParseProblem, ParseResult
from app.services.text import clean_text, normalize_code, normalize_label

# Fields whose values are compared on re-import: a difference makes a new revision.
CONTENT_FIELDS: tuple[str, ...] = (
    "seq",
    "name",
    "sub_item_name",
    "power_type_code",
    "power_type_raw",
    "local_code",
    "sub_local_code",
    "exercising_body",
    "handling_unit",
    "legal_basis",
    "legal_citations",
    "responsibilities",
    "accountability",
    "remarks",
)

_LABEL_FIELDS = ("name", "sub_item_name", "exercising_body", "handling_unit")
_TEXT_FIELDS = ("legal_basis", "responsibilities", "accountability", "remarks")
_LIST_TITLE_SUFFIXES = ("权责清单", "权力清单", "责任清单", "权力事项清单", "事项清单")


@dataclass(slots=True)
class PreparedItem:
    """One item ready to be stored, with where it came from."""

    values: dict[str, Any]
    agency: str
    line: int
    line_end: int
    page: int | None
    raw: dict[str, str]
    credit_code: str | None = None
    status: str = "active"


@dataclass(slots=True)
class AgencyInfo:
    name: str
    credit_code: str | None = None
    division_code: str | None = None
    level: str | None = None


@dataclass(slots=True)
class Prepared:
    items: list[PreparedItem] = field(default_factory=list)
    agencies: dict[str, AgencyInfo] = field(default_factory=dict)
    problems: list[ParseProblem] = field(default_factory=list)


def _agency_from_title(title: str | None) -> str | None:
    if not title:
        return None
    name = normalize_label(title) or ""
    for suffix in _LIST_TITLE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name or None


def _values(parsed: ParsedItem, problems: list[ParseProblem]) -> dict[str, Any]:
    cells = parsed.cells
    values: dict[str, Any] = {"seq": parsed.seq}
    for name in _LABEL_FIELDS:
        values[name] = normalize_label(cells.get(name))
    for name in _TEXT_FIELDS:
        values[name] = clean_text(cells.get(name))
    values["local_code"] = normalize_code(cells.get("local_code"))
    values["sub_local_code"] = normalize_code(cells.get("sub_local_code"))
    raw_type = normalize_label(cells.get("power_type"))
    values["power_type_raw"] = raw_type
    values["power_type_code"] = None
    if raw_type:
        matched = power_types.match(raw_type)
        values["power_type_code"] = matched.code
        if matched.code is None:
            problems.append(
                ParseProblem(
                    "import.unknown_power_type",
                    f"权力类型“{raw_type[:50]}”不是已知类型，已原样保存，未对应标准代码",
                    line=parsed.line,
                    field="power_type",
                )
            )
    values["legal_citations"] = [
        {"law": c.law, "articles": list(c.articles)}
        for c in extract_citations(values["legal_basis"], cleaned=True)
    ]
    if not values["name"]:
        problems.append(
            ParseProblem(
                "import.missing_name",
                "事项名称为空：已保存，请补全",
                line=parsed.line,
                field="name",
                severity="warning",
            )
        )
        values["name"] = ""
    return values


def _credit_code_of(local_code: str | None) -> str | None:
    if local_code and len(local_code) >= CODE_LENGTH:
        return local_code[:18]
    return None


def _agency_info(name: str, items: list[PreparedItem]) -> AgencyInfo:
    """Credit code, division and level as the agency's own codes say (the most common value)."""
    codes = [i.values["local_code"] for i in items if i.values.get("local_code")]
    decoded = [decode(c) for c in codes]
    parts = [d.parts for d in decoded if d.parts is not None]
    info = AgencyInfo(name=name)
    if parts:
        credit, _ = Counter(p.credit_code for p in parts).most_common(1)[0]
        info.credit_code = credit
        info.division_code = credit[2:8]
        info.level = Counter(p.level for p in parts).most_common(1)[0][0]
    return info


# How many items pass between two progress reports: often enough for a bar, cheap enough to ignore.
PROGRESS_EVERY = 50


def prepare(
    result: ParseResult,
    *,
    agency: str | None,
    progress: Callable[[int], None] | None = None,
) -> Prepared:
    """Clean every item and decide which agency it belongs to.

    `progress`, when given, is called with the number of items prepared so far (from the thread
    that runs this function).
    """
    prepared = Prepared(problems=list(result.problems))
    title_agency = _agency_from_title(result.title)
    for index, parsed in enumerate(result.items, start=1):
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(index)
        values = _values(parsed, prepared.problems)
        owner = (
            agency
            or normalize_label(parsed.agency)
            or title_agency
            or values.get("exercising_body")
            or None
        )
        if owner is None:
            prepared.problems.append(
                ParseProblem(
                    "import.no_agency",
                    "无法确定该事项所属部门：请用 --agency 指定",
                    line=parsed.line,
                    severity="error",
                )
            )
            continue
        prepared.items.append(
            PreparedItem(
                values=values,
                agency=owner[:200],
                line=parsed.line,
                line_end=parsed.line_end,
                page=parsed.page,
                raw=dict(parsed.cells),
                credit_code=_credit_code_of(values["local_code"]),
                status=parsed.status or "active",
            )
        )
    if progress is not None:
        progress(len(result.items))
    by_agency: dict[str, list[PreparedItem]] = {}
    for item in prepared.items:
        by_agency.setdefault(item.agency, []).append(item)
    prepared.agencies = {name: _agency_info(name, items) for name, items in by_agency.items()}
    return prepared
