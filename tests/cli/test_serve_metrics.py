"""`powercat serve --workers N` reports every worker's requests in every scrape of /metrics.

Each worker keeps its figures in a file of a shared directory (prometheus_client's multiprocess
mode; app/cli/db.py sets it up), so whichever worker answers a scrape sums them all. Without it
a scrape would report the requests of the one worker that answered it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from app.api.metrics import forget_dead_workers, render
from app.cli.db import _shared_metrics
from app.db import migrations
from app.settings import METRICS_DIR_VARIABLE
from tests.serving import serving

HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


def _healthz_count(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "powercat_http_requests_total" and sample.labels == HEALTHZ:
                return sample.value
    return 0.0


def _healthz(base: str) -> int:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        return int(response.status)


def _pids(directory: Path) -> set[str]:
    """The processes that have counted something: counter_<pid>.db, one a worker."""
    return {p.stem.removeprefix("counter_") for p in directory.glob("counter_*.db")}


# One server on SQLite is enough: the figures live in the processes, not the database.
@pytest.mark.sqlite
def test_every_scrape_sums_every_worker(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    migrations.upgrade(url)
    env = {
        **{k: v for k, v in os.environ.items() if k != METRICS_DIR_VARIABLE},
        "POWERCAT_DATABASE_URL": url,
        "POWERCAT_LOG_LEVEL": "WARNING",
        # `serve` makes its directory with tempfile: here, where the test can see it.
        "TMPDIR": str(tmp_path),
    }
    with serving(env, tmp_path / "server.log", "--workers", "2") as base:
        (shared,) = tmp_path.glob("powercat-metrics-*")
        sent = 0
        # Each request on a new connection, taken by whichever worker accepts it first; a
        # worker with nothing to do takes them all, so they go several at once, until both
        # workers have answered some.
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(_pids(shared)) < 2 and sent < 2000:
                assert set(pool.map(_healthz, [base] * 16)) == {200}
                sent += 16
        assert len(_pids(shared)) == 2, f"one worker answered all {sent} requests"
        # Scrapes answered by either worker: each reports them all.
        assert [_healthz_count(base) for _ in range(8)] == [sent] * 8
    assert not shared.exists(), "the run's directory is removed when the server stops"


def test_an_operators_directory_is_emptied_of_an_earlier_runs_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    for earlier in ("counter_4242.db", "gauge_livesum_4242.db", "histogram_17.db"):
        (shared / earlier).write_bytes(b"an earlier run")
    # Not prometheus_client's: a catalogue kept in the same directory, and a note.
    (shared / "powercat.db").write_bytes(b"SQLite format 3")
    (shared / "notes.txt").write_text("not ours")
    monkeypatch.setenv(METRICS_DIR_VARIABLE, str(shared))
    with _shared_metrics(workers=4):
        assert os.environ[METRICS_DIR_VARIABLE] == str(shared)
        assert sorted(p.name for p in shared.iterdir()) == ["notes.txt", "powercat.db"]
    assert os.environ[METRICS_DIR_VARIABLE] == str(shared)


@pytest.mark.sqlite
def test_one_worker_with_an_operators_directory_reports_every_figure(tmp_path: Path) -> None:
    # The directory is readied before the server's first metric is made: made earlier, the
    # in-progress gauge's file would be emptied away and the gauge vanish from every scrape.
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    migrations.upgrade(url)
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {
        **os.environ,
        "POWERCAT_DATABASE_URL": url,
        "POWERCAT_LOG_LEVEL": "WARNING",
        METRICS_DIR_VARIABLE: str(shared),
    }
    with serving(env, tmp_path / "server.log") as base:
        assert _healthz(base) == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("powercat_http_requests_in_progress", ())] == 1
    assert samples[("powercat_http_requests_total", tuple(sorted(HEALTHZ.items())))] >= 1


def test_one_worker_keeps_its_figures_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_VARIABLE, raising=False)
    with _shared_metrics(workers=1):
        assert METRICS_DIR_VARIABLE not in os.environ
    with _shared_metrics(workers=2):
        made = Path(os.environ[METRICS_DIR_VARIABLE])
        assert made.is_dir()
    assert METRICS_DIR_VARIABLE not in os.environ
    assert not made.exists()


def _in_progress(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "powercat_http_requests_in_progress":
                return sample.value
    raise AssertionError("no in-progress figure")


def test_a_scrape_forgets_a_worker_gone_without_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker killed in the middle of three requests leaves its figure behind: it never runs
    # forget_this_process. The scrape must not count it, and the live worker's figure stays.
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone, alive = int(ended.stdout), os.getpid()
    name = "powercat_http_requests_in_progress"
    key = mmap_key(name, name, [], [], "HTTP requests being answered")
    for pid, value in ((gone, 3.0), (alive, 1.0)):
        # prometheus_client's own file format, as a worker writes it (the module is untyped).
        figures = MmapedDict(str(tmp_path / f"gauge_livesum_{pid}.db"))  # type: ignore[no-untyped-call]
        figures.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
        figures.close()  # type: ignore[no-untyped-call]
    monkeypatch.setenv(METRICS_DIR_VARIABLE, str(tmp_path))
    assert _in_progress(render().decode()) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"gauge_livesum_{alive}.db"]


def test_scrapes_at_once_forget_the_same_dead_worker_without_failing(tmp_path: Path) -> None:
    # Each worker's scrape looks for dead workers' files: two scrapes at once find the same ones,
    # and the second to remove one must not fail the scrape.
    # Many files, as if many dead workers, so that the scrapes overlap: pids past the kernel's
    # largest, which no process can have.
    past = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    for n in range(300):
        (tmp_path / f"gauge_livesum_{past + n}.db").write_bytes(b"")
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(forget_dead_workers, [str(tmp_path)] * 4))
    assert outcomes == [None] * 4
    assert list(tmp_path.iterdir()) == []
