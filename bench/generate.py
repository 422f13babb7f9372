"""A deterministic synthetic catalogue: the seeds' vocabulary, valid unique codes, known defects.

The same (size, seed) always gives the same items, byte for byte, so two runs of the benchmark
measure the same data. Items are written as NDJSON in the export's Item JSON, one file per
bundle of agencies, the way a national catalogue arrives: county by county.

Shape of the catalogue (about what a real one looks like):
- agencies are county-level bureaus (level 4) of synthetic divisions, ~300 items each;
- each item's code is valid and unique: credit code with its check digit, the item's power type
  in chars 22–23, a main-item number counted per (agency, type);
- 5 % of the items are parents (`00Y`) with two or three sub-items that share their prefix;
- defects, each a fixed share of the items: duplicate codes (0.2 %), bad check digits (0.1 %),
  type/code mismatches (0.1 %), missing codes (0.5 %). The validator must find all of them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from app.services.codes import make_code
from app.services.importers import registry
from app.services.importers.prepare import prepare

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (
    ROOT / "seed" / "minqin-medical-security.tsv.txt",
    ROOT / "seed" / "dunhuang-medical-security.pdf.txt",
)
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ITEMS_PER_AGENCY = 300
ITEMS_PER_FILE = 10_000
GENERATOR_VERSION = 3  # bump when the items change: written files of another version are redone

# Power types a county bureau exercises, with their labels (the reference table's codes).
POWER_TYPES = (
    ("01", "行政许可"),
    ("02", "行政处罚"),
    ("03", "行政强制"),
    ("04", "行政征收"),
    ("05", "行政给付"),
    ("06", "行政检查"),
    ("07", "行政确认"),
    ("08", "行政奖励"),
    ("09", "行政裁决"),
    ("10", "其他行政权力"),
    ("20", "公共服务"),
)
# How a type's items are usually named: an object phrase is slotted in.
NAME_FORMS = {
    "01": "{}的许可",
    "02": "对{}的处罚",
    "03": "对{}采取的行政强制措施",
    "04": "{}的征收",
    "05": "{}的给付",
    "06": "对{}的监督检查",
    "07": "{}的确认",
    "08": "对{}的奖励",
    "09": "{}争议的裁决",
    "10": "{}的备案",
    "20": "{}服务",
}
PLACE_CHARS = "安宁永丰泰和平顺兴隆长乐嘉祥德化清河临泽高台金川玉门阳关古浪天祝崇信灵岷宕昌文武"
BUREAUS = (
    ("医疗保障局", "36"),
    ("市场监督管理局", "28"),
    ("人力资源和社会保障局", "13"),
    ("卫生健康局", "34"),
    ("自然资源局", "18"),
    ("交通运输局", "21"),
)
CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


@dataclass(frozen=True)
class Vocabulary:
    """Phrases cut from the seed lists, reused to build realistic text."""

    objects: tuple[str, ...]
    legal: tuple[str, ...]
    duties: tuple[str, ...]
    blame: tuple[str, ...]
    units: tuple[str, ...]


def _sentences(text: str | None) -> list[str]:
    if not text:
        return []
    parts = re.split(r"(?<=[。；])", text)
    return [p.strip() for p in parts if len(p.strip()) >= 8]


@cache
def vocabulary() -> Vocabulary:
    """Parse the seeds with the real importers and keep their phrases."""
    objects: set[str] = set()
    legal: set[str] = set()
    duties: set[str] = set()
    blame: set[str] = set()
    units: set[str] = set()
    for path in SEEDS:
        _, parsed = registry.read(path.read_bytes(), "auto")
        for item in prepare(parsed, agency=None).items:
            values = item.values
            for run in CJK_RUN.findall(values.get("name") or ""):
                if 4 <= len(run) <= 16:
                    objects.add(run.removeprefix("对").removesuffix("的"))
            legal.update(_sentences(values.get("legal_basis")))
            duties.update(_sentences(values.get("responsibilities")))
            blame.update(_sentences(values.get("accountability")))
            if values.get("handling_unit"):
                units.add(values["handling_unit"])
    return Vocabulary(
        objects=tuple(sorted(objects)),
        legal=tuple(sorted(legal)),
        duties=tuple(sorted(duties)),
        blame=tuple(sorted(blame)),
        units=tuple(sorted(units)) or ("综合股",),
    )


@dataclass
class Agency:
    name: str
    credit17: str
    division: str
    department: str
    main_numbers: dict[str, int] = field(default_factory=dict)

    @property
    def credit_code(self) -> str:
        return make_code(self.credit17, "4", "00", "00", "00", "000", "000")[:18]

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "credit_code": self.credit_code,
            "division_code": self.division,
            "level": "4",
        }


def _place(index: int) -> str:
    """A unique county name for each index: its digits in base len(PLACE_CHARS), 2+ characters."""
    base = len(PLACE_CHARS)
    chars = [PLACE_CHARS[index % base], PLACE_CHARS[(index // base) % base]]
    index //= base * base
    while index:
        chars.append(PLACE_CHARS[index % base])
        index //= base
    return "".join(chars)


def _agencies(count: int, rng: random.Random) -> list[Agency]:
    agencies = []
    for n in range(count):
        bureau, department = BUREAUS[n % len(BUREAUS)]
        county = n // len(BUREAUS)
        # Division codes: province 11–65, city 01–99, county 21–99; unique per county index.
        province = 11 + county % 55
        city = 1 + (county // 55) % 99
        district = 21 + (county // (55 * 99)) % 79
        division = f"{province:02d}{city:02d}{district:02d}"
        place = _place(county) + "县"
        org = "".join(rng.choice(ALPHABET) for _ in range(7))
        agencies.append(Agency(f"{place}{bureau}", f"11{division}MB{org}", division, department))
    return agencies


def _text(rng: random.Random, pool: tuple[str, ...], low: int, high: int) -> str:
    return "".join(rng.sample(pool, min(len(pool), rng.randint(low, high))))


@dataclass(frozen=True)
class Defects:
    """Where the generator put each defect: the benchmark checks the validator finds them."""

    duplicate: int = 0
    check_digit: int = 0
    type_mismatch: int = 0
    missing_code: int = 0


def items(size: int, seed: int = 20261202) -> Iterator[dict[str, Any]]:
    """`size` item documents (sub-items included in the count), always the same for a seed."""
    rng = random.Random(seed)
    words = vocabulary()
    # Enough agencies that none takes items twice: a list arrives once per agency (and a second,
    # separate list of an agency would be matched against the first by the importer).
    agencies = _agencies(max(1, -(-size // ITEMS_PER_AGENCY)), rng)
    produced = 0
    recent_codes: list[str] = []
    while produced < size:
        agency = agencies[(produced // ITEMS_PER_AGENCY) % len(agencies)]
        type_code, type_label = rng.choice(POWER_TYPES)
        main = agency.main_numbers.get(type_code, 0) + 1
        agency.main_numbers[type_code] = main
        main_text = f"{main:03d}" if main < 1000 else f"{main % 1000:03d}"
        obj = rng.choice(words.objects)
        if rng.random() < 0.7:  # most names qualify the object: far fewer same-name items
            obj = f"{rng.choice(words.objects)}中{obj}"
        name = NAME_FORMS[type_code].format(obj)
        children = rng.randint(2, 3) if rng.random() < 0.05 and size - produced > 4 else 0
        sub = "00Y" if children else "000"
        # Region: the agency's province (an item its province added), as the validator expects.
        region = agency.division[:2]
        code = make_code(agency.credit17, "4", region, type_code, agency.department, main_text, sub)
        base = {
            "agency": agency.document(),
            "power_type": {"code": type_code, "label": type_label, "raw": type_label},
            "exercising_body": agency.name,
            "handling_unit": rng.choice(words.units),
            "legal_basis": _text(rng, words.legal, 1, 3),
            "responsibilities": _text(rng, words.duties, 2, 4),
            "accountability": _text(rng, words.blame, 1, 3),
            "remarks": None,
            "status": "active",
        }
        roll = rng.random()
        local_code: str | None = code
        if roll < 0.002 and recent_codes:
            local_code = rng.choice(recent_codes)  # a duplicate, as 民勤县 items 4–6
        elif roll < 0.003:
            bad = ALPHABET[(ALPHABET.index(code[17]) + 1) % len(ALPHABET)]
            local_code = code[:17] + bad + code[18:]  # the check digit no longer fits
        elif roll < 0.004:
            other = "02" if type_code != "02" else "06"
            local_code = code[:21] + other + code[23:]  # code says one type, the item another
        elif roll < 0.009:
            local_code = None  # as every 敦煌市 item
        produced += 1
        yield {
            **base,
            "seq": produced,
            "name": name,
            "sub_item_name": None,
            "local_code": local_code,
            "sub_local_code": None,
        }
        if local_code:
            recent_codes = [*recent_codes[-50:], local_code]
        for n in range(1, children + 1):
            if produced >= size:
                break
            produced += 1
            sub_code = code[:28] + f"{n:03d}"
            yield {
                **base,
                "seq": produced,
                "name": name,
                "sub_item_name": f"{rng.choice(words.objects)}（子项{n}）",
                "local_code": code,
                "sub_local_code": sub_code,
            }


def write_files(size: int, directory: Path, seed: int = 20261202) -> list[Path]:
    """The catalogue as NDJSON files of about ITEMS_PER_FILE items; reused when already written.

    A file ends only where an agency does: each agency's list is one file, as lists arrive. An
    agency split over two files would have its second part matched against the first on import
    (the same code counts as the same item, renamed), and the catalogue would come out a few items
    short of its size.
    """
    directory.mkdir(parents=True, exist_ok=True)
    done = directory / "COMPLETE"
    if done.exists() and done.read_text() == f"{size} {seed} v{GENERATOR_VERSION}\n":
        return sorted(directory.glob("part-*.ndjson"))
    done.unlink(missing_ok=True)
    for old in directory.glob("part-*.ndjson"):
        old.unlink()
    paths: list[Path] = []
    out = None
    in_file, agency = 0, None
    for item in items(size, seed):
        if out is None or (in_file >= ITEMS_PER_FILE and item["agency"]["name"] != agency):
            if out is not None:
                out.close()
            paths.append(directory / f"part-{len(paths):05d}.ndjson")
            out = paths[-1].open("w", encoding="utf-8")
            in_file = 0
        agency = item["agency"]["name"]
        in_file += 1
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
    if out is not None:
        out.close()
    done.write_text(f"{size} {seed} v{GENERATOR_VERSION}\n")
    return paths
