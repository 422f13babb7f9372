"""The benchmark's synthetic catalogue: deterministic, validly coded, with its defects known."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from app.services.codes import decode
from bench import generate


def test_same_seed_same_items_other_seed_other_items() -> None:
    first = list(generate.items(600, seed=7))
    assert first == list(generate.items(600, seed=7))
    assert first != list(generate.items(600, seed=8))
    assert len(first) == 600


def test_codes_are_valid_and_unique_but_for_the_planted_defects() -> None:
    docs = list(generate.items(5000))
    codes = [d.get("sub_local_code") or d["local_code"] for d in docs]
    missing = sum(1 for c in codes if c is None)
    invalid = [c for c in codes if c is not None and not decode(c).valid]
    repeated = sum(n - 1 for n in Counter(c for c in codes if c).values() if n > 1)
    # Each defect is planted at a fixed share (0.5 % missing, 0.2 % duplicate, 0.1 % bad check
    # digit, 0.1 % type mismatch): a handful of each, never more than a few percent together.
    assert 0 < missing < 0.02 * len(docs)
    assert 0 < len(invalid) < 0.01 * len(docs)
    assert 0 < repeated < 0.01 * len(docs)
    assert all(len(c) == 31 for c in codes if c)


def test_text_comes_from_the_seed_vocabulary() -> None:
    words = generate.vocabulary()
    doc = next(generate.items(1))
    assert any(phrase in doc["legal_basis"] for phrase in words.legal)
    assert any(phrase in doc["name"] for phrase in words.objects)
    assert doc["agency"]["division_code"] == doc["agency"]["credit_code"][2:8]


def test_sub_items_share_their_parents_prefix() -> None:
    docs = list(generate.items(3000))
    children = [d for d in docs if d["sub_local_code"]]
    assert children
    for child in children:
        assert child["local_code"].endswith("00Y")
        assert child["sub_local_code"][:28] == child["local_code"][:28]


def test_files_hold_every_item_once(tmp_path: Path) -> None:
    paths = generate.write_files(2500, tmp_path, seed=3)
    lines = [json.loads(line) for p in paths for line in p.read_text("utf-8").splitlines()]
    assert lines == list(generate.items(2500, seed=3))
    assert generate.write_files(2500, tmp_path, seed=3) == paths  # reused, not rewritten


def test_each_agency_is_one_file_and_one_stretch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lists arrive per agency: an agency split over files (or given items again after the others)
    # would be matched against its first part on import, and the catalogue would lose items.
    monkeypatch.setattr(generate, "ITEMS_PER_FILE", 1000)
    paths = generate.write_files(4550, tmp_path, seed=5)
    assert len(paths) > 2
    agencies: list[str] = []
    file_of: dict[str, Path] = {}
    for path in paths:
        for line in path.read_text("utf-8").splitlines():
            name = json.loads(line)["agency"]["name"]
            assert file_of.setdefault(name, path) == path, name
            if not agencies or agencies[-1] != name:
                assert name not in agencies, name
                agencies.append(name)
    assert len(agencies) == -(-4550 // generate.ITEMS_PER_AGENCY)


def test_codes_carry_their_agencys_province() -> None:
    # Otherwise every item raises code.region_mismatch, and a validation run measures the storing
    # of a warning per item rather than the checking.
    docs = [d for d in generate.items(2000) if d["local_code"]]
    assert all(d["local_code"][19:21] == d["agency"]["division_code"][:2] for d in docs)
