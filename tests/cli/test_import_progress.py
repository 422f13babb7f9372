"""`powercat import` draws a progress bar over the whole import on a terminal, and only there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.imports import PROGRESS_MIN_BYTES
from tests.cli.import_helpers import db_counts, run_on_terminal
from tests.cli.test_cli import run
from tests.factories import MINQIN
from tests.import_samples import csv_bytes, long_rows

BAR = "━"  # what rich draws a bar with
HIDE_CURSOR = "\x1b[?25l"  # a live display hides the cursor while it draws
ROWS = 700


@pytest.fixture
def long_csv(tmp_path: Path) -> Path:
    path = tmp_path / "long.csv"
    path.write_bytes(csv_bytes(long_rows(ROWS)))
    assert path.stat().st_size > PROGRESS_MIN_BYTES
    return path


class TestProgressBar:
    def test_long_file_on_a_terminal_shows_a_bar_that_ends_full(
        self, migrated_url: str, long_csv: Path, tmp_path: Path
    ) -> None:
        r = run_on_terminal(
            "import",
            str(long_csv),
            env={"POWERCAT_DATABASE_URL": migrated_url},
            stdout_tty=True,
            stderr_tty=True,
            tmp_path=tmp_path,
        )
        assert r.returncode == 0, r.shown
        assert BAR in r.shown
        assert HIDE_CURSOR in r.shown
        # The last frame: every phase done, the writes included, before the report is printed.
        assert f"{long_csv.name}: done" in r.shown
        assert "100%" in r.shown
        assert r.shown.rindex("100%") < r.shown.index(f"{ROWS} new")
        assert db_counts(migrated_url)["item"] == ROWS

    def test_bar_goes_to_the_terminal_when_only_stdout_is_redirected(
        self, migrated_url: str, long_csv: Path, tmp_path: Path
    ) -> None:
        r = run_on_terminal(
            "import",
            "--json",
            str(long_csv),
            env={"POWERCAT_DATABASE_URL": migrated_url},
            stdout_tty=False,
            stderr_tty=True,
            tmp_path=tmp_path,
        )
        assert r.returncode == 0, r.shown
        assert BAR in r.shown
        assert f"{long_csv.name}: done" in r.shown
        # The redirected report is clean JSON, without a trace of the bar.
        (report,) = json.loads(r.stdout)
        assert report["counts"]["new"] == ROWS
        assert "\x1b" not in r.stdout

    def test_no_bar_when_stderr_is_not_a_terminal(
        self, migrated_url: str, long_csv: Path, tmp_path: Path
    ) -> None:
        r = run_on_terminal(
            "import",
            str(long_csv),
            env={"POWERCAT_DATABASE_URL": migrated_url},
            stdout_tty=True,
            stderr_tty=False,
            tmp_path=tmp_path,
        )
        assert r.returncode == 0, r.shown
        assert f"{ROWS} new" in r.shown
        assert BAR not in r.shown
        assert HIDE_CURSOR not in r.shown
        assert r.stderr == ""

    def test_no_bar_when_neither_is_a_terminal(self, migrated_url: str, long_csv: Path) -> None:
        r = run("import", str(long_csv), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 0, r.stderr
        assert f"{ROWS} new" in r.stdout
        assert r.stderr == ""
        assert "\x1b" not in r.stdout

    def test_short_file_on_a_terminal_shows_no_bar(self, migrated_url: str, tmp_path: Path) -> None:
        assert MINQIN.stat().st_size < PROGRESS_MIN_BYTES
        r = run_on_terminal(
            "import",
            str(MINQIN),
            env={"POWERCAT_DATABASE_URL": migrated_url},
            stdout_tty=True,
            stderr_tty=True,
            tmp_path=tmp_path,
        )
        assert r.returncode == 0, r.shown
        assert "9 new" in r.shown
        assert BAR not in r.shown
        assert HIDE_CURSOR not in r.shown
