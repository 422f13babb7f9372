"""Where the harness writes a run's results."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import write_results


def _result(started: str) -> dict[str, object]:
    return {"started": started, "figures": [{"path": "search", "value": 1.5}]}


def test_a_run_of_every_path_is_also_the_latest(tmp_path: Path) -> None:
    path = write_results(_result("20261206T000000Z"), tmp_path, every_path=True)
    assert path == tmp_path / "bench-20261206T000000Z.json"
    assert json.loads(path.read_text()) == _result("20261206T000000Z")
    assert (tmp_path / "latest.json").read_text() == path.read_text()


def test_a_run_of_some_paths_leaves_the_latest_whole_table(tmp_path: Path) -> None:
    whole = write_results(_result("20261206T000000Z"), tmp_path, every_path=True)
    some = write_results(_result("20261206T010000Z"), tmp_path, every_path=False)
    assert json.loads(some.read_text()) == _result("20261206T010000Z")
    assert (tmp_path / "latest.json").read_text() == whole.read_text()
