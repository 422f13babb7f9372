"""`powercat import` refuses bad files with one line on stderr and leaves the database unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.cli.imports import FORMAT_CHOICES, MAX_IMPORT_FILE_BYTES
from tests.cli.import_helpers import db_counts, seed_minqin
from tests.cli.test_cli import run
from tests.factories import MINQIN
from tests.import_samples import UNKNOWN_LAYOUT, bad_files


def one_line_error(r: subprocess.CompletedProcess[str], path: Path) -> str:
    """The single stderr line of a refused file (exit 1, no traceback, nothing on stdout)."""
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"powercat: error: {path}: ")
    assert r.stdout == ""
    return lines[0]


class TestRefusedFiles:
    @pytest.mark.parametrize("name", list(bad_files()))
    def test_bad_file_is_one_line_error_and_the_database_unchanged(
        self, migrated_url: str, tmp_path: Path, name: str
    ) -> None:
        seed_minqin(migrated_url)
        before = db_counts(migrated_url)
        bad = tmp_path / name
        bad.write_bytes(bad_files()[name])
        r = run("import", str(bad), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert one_line_error(r, bad).endswith("; nothing imported")
        assert db_counts(migrated_url) == before

    def test_unknown_layout_names_the_layouts_it_knows(
        self, migrated_url: str, tmp_path: Path
    ) -> None:
        prose = tmp_path / "notice.txt"
        prose.write_bytes(UNKNOWN_LAYOUT)
        r = run("import", str(prose), env={"POWERCAT_DATABASE_URL": migrated_url})
        line = one_line_error(r, prose)
        assert "unrecognised layout" in line
        for layout in ("TSV", "PDF text", "CSV", "XLSX", "JSON", "NDJSON"):
            assert layout in line
        assert db_counts(migrated_url)["item"] == 0

    def test_unknown_format_option_lists_the_formats(self, migrated_url: str) -> None:
        r = run(
            "import", "--format", "docx", str(MINQIN), env={"POWERCAT_DATABASE_URL": migrated_url}
        )
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        assert r.stderr.splitlines() == [
            f"powercat: error: unknown format 'docx': use one of {', '.join(FORMAT_CHOICES)}"
        ]
        assert "auto, tsv, pdf-text, csv, xlsx, json, ndjson" in r.stderr
        assert db_counts(migrated_url)["item"] == 0

    def test_file_over_the_size_limit_is_refused_unread(
        self, migrated_url: str, tmp_path: Path
    ) -> None:
        seed_minqin(migrated_url)
        before = db_counts(migrated_url)
        # A sparse file: its size is past the limit, yet it takes no room on the disk.
        big = tmp_path / "huge.tsv"
        with big.open("wb") as f:
            f.truncate(MAX_IMPORT_FILE_BYTES + 1)
        r = run("import", str(big), env={"POWERCAT_DATABASE_URL": migrated_url})
        line = one_line_error(r, big)
        assert line.endswith(f"larger than {MAX_IMPORT_FILE_BYTES // 1_048_576} MB; not imported")
        assert db_counts(migrated_url) == before

    def test_the_other_files_still_import_after_a_refused_one(
        self, migrated_url: str, tmp_path: Path
    ) -> None:
        bad = tmp_path / "empty.txt"
        bad.write_bytes(b"")
        r = run("import", str(bad), str(MINQIN), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 1
        assert len(r.stderr.splitlines()) == 1
        assert "9 new" in r.stdout
        assert db_counts(migrated_url)["item"] == 9
