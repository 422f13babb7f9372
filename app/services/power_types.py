"""Power types (权力类型): the standard table and the mapping of printed labels onto it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

# Labels that lists print but the standard does not have, with the standard code they mean.
# (reference/power-types.csv: 行政监督 → 06 行政检查; 行政备案 → 10 其他行政权力.)
NONSTANDARD_LABELS: dict[str, str] = {
    "行政监督": "06",
    "行政备案": "10",
    "其他类别事项": "10",
    "其他权力": "10",
    "其他行政权力事项": "10",
}


@dataclass(frozen=True, slots=True)
class PowerTypeMatch:
    code: str | None  # None: the label means nothing we know
    label: str | None  # the standard label of `code`
    raw: str  # the label as printed
    is_standard: bool  # the printed label is the standard one


@lru_cache(maxsize=1)
def standard_labels() -> dict[str, str]:
    """code → standard label, from app/data/power-types.csv (the table the migration seeds)."""
    with (files("app") / "data" / "power-types.csv").open(encoding="utf-8") as f:
        return {row["code"]: row["label"] for row in csv.DictReader(f)}


def match(raw: str) -> PowerTypeMatch:
    """Map a printed label (already cleaned of layout spaces) or a two-digit code."""
    labels = standard_labels()
    by_label = {label: code for code, label in labels.items()}
    if raw in by_label:
        return PowerTypeMatch(by_label[raw], raw, raw, True)
    if raw in labels and raw != "00":
        return PowerTypeMatch(raw, labels[raw], raw, True)
    code = NONSTANDARD_LABELS.get(raw)
    if code is not None:
        return PowerTypeMatch(code, labels[code], raw, False)
    return PowerTypeMatch(None, None, raw, False)
