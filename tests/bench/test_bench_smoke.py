"""`make bench` at 10k items, briefly, on both databases: the harness runs end to end.

No timing is asserted (this machine is shared and noisy); what is asserted is that every path was
measured next to its baseline on both databases, that the baselines answered the same documents
(the harness refuses to measure otherwise), and that search agreed with a substring scan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.dbutil import TEST_URL_ENV

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_PATHS = {
    "import (rows/s)",
    "import's reading alone, no database, one process (rows/s)",
    "validation run (full catalogue)",
    "lookup by code (HTTP, 1 worker)",
    "lookup by code with a read key (HTTP, 1 worker)",
    "lookup by code, serve --workers 2",
    "search, 3+ characters, p95 of the first page",
    "search, 1–2 characters, p95 of the first page",
    "search within a filter, p95 of the first page",
    "export ndjson, peak RSS growth",
    "change feed catch-up (10,000 changes)",
    "change feed catch-up, httpx consumer parsing pages with json",
}


@pytest.mark.bench
def test_harness_measures_every_path_on_both_databases(tmp_path: Path) -> None:
    raw = os.environ.get(TEST_URL_ENV)
    assert raw, f"the bench smoke needs PostgreSQL: set {TEST_URL_ENV} (make bench-smoke does)"
    admin = make_url(raw).set(database="postgres").render_as_string(hide_password=False)
    out = tmp_path / "results"
    env = {
        **os.environ,
        "BENCH_SIZES": "10000",
        "BENCH_BACKENDS": "postgres sqlite",
        "BENCH_DURATION": "1",
        "BENCH_ROUNDS": "1",
        "BENCH_SEARCH_TERMS": "4",
        "BENCH_PG_URL": admin,
        "BENCH_DB_PREFIX": "powercat_bench_smoke",
        "BENCH_WORK": str(tmp_path / "work"),
        "BENCH_OUT": str(out),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    figures = result["figures"]
    for backend in ("postgres", "sqlite"):
        measured = {f["path"] for f in figures if f["backend"] == backend}
        assert measured >= EXPECTED_PATHS, EXPECTED_PATHS - measured
        # The import next to COPY into the search-indexed table: PostgreSQL's COPY only.
        indexed = "import against an indexed COPY (rows/s)" in measured
        assert indexed is (backend == "postgres"), measured
    for figure in figures:
        assert figure["value"] > 0 or figure["unit"] == "MB", figure
        if figure["baseline"] is not None:
            assert figure["baseline"] > 0, figure
            assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"])
    # What the figures mean depends on the server's settings: the run records them.
    assert set(result["postgres"]) == {
        "server_version",
        "autovacuum",
        "shared_buffers",
        "effective_cache_size",
    }
    searches = [f for f in figures if f["path"].startswith("search")]
    assert all(f["notes"]["equal_to_scan"] > 0 for f in searches), searches
    # The terms (and filters) that set each search's tail are named, the slowest first.
    for f in searches:
        tail = list(f["notes"]["slowest_terms_ms"].values())
        assert len(tail) == 3, f
        assert tail == sorted(tail, reverse=True), f
        assert tail[-1] > 0, f
    # Searches within a filter: each filter's own p95, on both databases.
    for f in figures:
        if f["path"] == "search within a filter, p95 of the first page":
            assert set(f["notes"]["p95_ms_by_filter"]) == {
                f"agency={f['notes']['filters'][0]['agency']}",
                f"power_type={f['notes']['filters'][1]['power_type']}",
                "status=withdrawn",
            }, f
    # What bounds a second worker: each party's CPU a request, and the machine's ceiling.
    for f in figures:
        if f["path"] == "lookup by code, serve --workers 2":
            for workers in ("one_worker", "two_workers"):
                cpu = f["notes"]["cpu_ms_per_request"][workers]
                assert cpu["server"] > 0, f
                assert cpu["load_generator"] > 0, f
                # SQLite runs inside the server: no database process of its own.
                assert (cpu["database"] > 0) is (f["backend"] == "postgres"), f
            one = f["notes"]["cpu_ms_per_request"]["one_worker"]
            ceiling = f["notes"]["cores"] * 1000 / sum(one.values())
            assert f["notes"]["machine_ceiling_rps"] == pytest.approx(ceiling, rel=1e-3), f
    # The printed table carries the same figures.
    assert done.stdout.count("lookup by code (HTTP, 1 worker)") == 2
