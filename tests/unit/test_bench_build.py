"""How the harness builds a size's catalogue when a run measures some paths only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import harness
from bench.harness import Config, database_url, loaded, run_one


def _config(tmp_path: Path, paths: tuple[str, ...]) -> Config:
    return Config(
        sizes=(400,), backends=("sqlite",), duration=1, rounds=1, connections=1,
        search_samples=1, paths=paths, work=tmp_path,
    )  # fmt: skip


async def _must_not_run(*_: object) -> float:
    raise AssertionError("a baseline ran in a run without the import path")


def test_a_run_without_the_import_path_builds_the_catalogue_but_measures_no_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The baselines are what such a run must not spend its time on: here they may not run at all.
    for baseline in ("bulk_load_baseline", "indexed_load_baseline"):
        monkeypatch.setattr(harness, baseline, _must_not_run)
    config = _config(tmp_path, ("validation",))
    figures = asyncio.run(run_one("sqlite", 400, config))
    assert [f.path for f in figures] == ["validation run (full catalogue)"]
    assert asyncio.run(loaded(database_url("sqlite", 400, config), 400))


def test_a_run_with_the_import_path_measures_it_next_to_its_baseline(tmp_path: Path) -> None:
    figures = asyncio.run(run_one("sqlite", 400, _config(tmp_path, ("import",))))
    figure, reading = figures
    assert figure.path == "import (rows/s)"
    assert figure.value > 0
    assert figure.baseline is not None
    assert figure.baseline > 0
    # Beside it, the importer's reading alone against the same bare load: its ceiling.
    assert reading.path == "import's reading alone, no database, one process (rows/s)"
    assert reading.value > figure.value
    assert reading.baseline == figure.baseline
    assert reading.notes["all_cores_ratio"] == pytest.approx(
        reading.value * reading.notes["cores"] / figure.baseline
    )
