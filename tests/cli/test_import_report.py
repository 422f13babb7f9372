"""The report of `powercat import`: counts and each problem with its file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run
from tests.factories import DUNHUANG
from tests.integration.test_imports import (
    check_dunhuang_repeat,
    check_field_problems,
    dunhuang_item_lines,
    rows_with_field_problems,
)


class TestReportOutput:
    def test_json_report_names_both_printings_of_the_repeated_row(self, migrated_url: str) -> None:
        r = run("import", "--json", str(DUNHUANG), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 0, r.stderr
        (report,) = json.loads(r.stdout)
        assert report["status"] == "imported"
        check_dunhuang_repeat(report)

    def test_text_report_shows_the_repeat_with_its_line_range(self, migrated_url: str) -> None:
        r = run("import", str(DUNHUANG), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 0, r.stderr
        assert "1 warnings, 0 errors" in r.stdout
        (line,) = [x for x in r.stdout.splitlines() if "import.repeated_row" in x]
        _, repeat = dunhuang_item_lines(10)
        assert line.strip().startswith(f"warning: {DUNHUANG.name}:{repeat}-")

    def test_each_problem_with_file_line_and_field_in_json_and_text(
        self, migrated_url: str, tmp_path: Path
    ) -> None:
        listing = tmp_path / "fields.csv"
        listing.write_bytes(rows_with_field_problems())
        env = {"POWERCAT_DATABASE_URL": migrated_url}
        dry = run("import", "--dry-run", "--json", str(listing), env=env)
        assert dry.returncode == 0, dry.stderr
        (report,) = json.loads(dry.stdout)
        check_field_problems(report, "fields.csv")
        text = run("import", str(listing), env=env)
        assert text.returncode == 0, text.stderr
        assert "4 new" in text.stdout
        assert "3 warnings, 0 errors" in text.stdout
        assert "warning: fields.csv:2 [seq] import.bad_seq" in text.stdout
        assert "warning: fields.csv:3 [power_type] import.unknown_power_type" in text.stdout
        assert "warning: fields.csv:4 [name] import.missing_name" in text.stdout
