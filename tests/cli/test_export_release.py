"""`powercat export` and `powercat release` as a user runs them: real processes and exit codes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.services.importers.structured import FLAT_COLUMNS
from app.settings import Settings
from tests.cli.test_cli import run
from tests.dbutil import drop_database, fresh_database
from tests.factories import DUNHUANG, MINQIN, import_file


def _database(name: str, tmp: Path, *lists: Path) -> str:
    """A migrated database holding `lists`, committed (loaded in-process: subprocesses are slow)."""
    url = fresh_database(name, tmp)
    migrations.upgrade(url)

    async def load() -> None:
        engine = create_engine(Settings(database_url=url))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                for path in lists:
                    await import_file(session, path)
        finally:
            await engine.dispose()

    asyncio.run(load())
    return url


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, str]]:
    """Both seeds; the tests using it write nothing that another one reads."""
    url = _database(f"exprel{worker_id}", tmp_path_factory.mktemp("seeded"), MINQIN, DUNHUANG)
    yield {"POWERCAT_DATABASE_URL": url}
    drop_database(url)


@pytest.fixture
def fresh(tmp_path: Path, worker_id: str) -> Iterator[dict[str, str]]:
    url = _database(f"exprel_fresh{worker_id}", tmp_path, MINQIN)
    yield {"POWERCAT_DATABASE_URL": url}
    drop_database(url)


@pytest.fixture
def empty(tmp_path: Path, worker_id: str) -> Iterator[dict[str, str]]:
    url = _database(f"exprel_empty{worker_id}", tmp_path)
    yield {"POWERCAT_DATABASE_URL": url}
    drop_database(url)


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("powercat: error: ")
    assert "Traceback" not in stderr
    return lines[0]


class TestExportCommand:
    def test_csv_and_xlsx_files_import_back(
        self, seeded: dict[str, str], empty: dict[str, str], tmp_path: Path
    ) -> None:
        out_csv, out_xlsx = tmp_path / "catalogue.csv", tmp_path / "minqin.xlsx"
        r = run("export", "--format", "csv", "-o", str(out_csv), env=seeded)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"wrote {out_csv}: 37 items (csv)"
        data = out_csv.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        assert next(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == list(FLAT_COLUMNS)
        r = run(
            "export",
            "--format",
            "xlsx",
            "-o",
            str(out_xlsx),
            "--agency",
            "民勤县医疗保障局",
            env=seeded,
        )
        assert r.returncode == 0, r.stderr
        workbook = load_workbook(out_xlsx, read_only=True)
        try:
            assert sum(1 for _ in workbook.worksheets[0].iter_rows()) == 1 + 9
        finally:
            workbook.close()  # read-only mode keeps the file open until closed
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

        back = run("import", str(out_csv), env=empty)
        assert back.returncode == 0, back.stderr
        assert "37 new" in back.stdout
        # The workbook holds the same nine items the CSV brought in.
        again = run("import", str(out_xlsx), env=empty)
        assert again.returncode == 0, again.stderr
        assert ": unchanged (xlsx" in again.stdout

    def test_ndjson_to_stdout(self, seeded: dict[str, str]) -> None:
        r = run("export", "--format", "ndjson", env=seeded)
        assert r.returncode == 0, r.stderr
        assert len([json.loads(line) for line in r.stdout.splitlines()]) == 37
        assert r.stderr == ""

    @pytest.mark.parametrize(
        ("args", "code"),
        [
            (["--format", "docx"], 2),
            (["--format", "csv", "--release", "nope"], 1),
            (["--format", "csv", "--agency", "不存在的部门"], 1),
        ],
    )
    def test_bad_input_is_one_line_and_leaves_no_file(
        self, seeded: dict[str, str], tmp_path: Path, args: list[str], code: int
    ) -> None:
        r = run("export", *args, "-o", str(tmp_path / "x.csv"), env=seeded)
        assert r.returncode == code
        assert "Traceback" not in r.stderr
        if code == 1:
            one_line_error(r.stderr)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
    @pytest.mark.parametrize(
        "args", [["--release", "nope"], ["--agency", "不存在的部门"]], ids=["release", "agency"]
    )
    def test_bad_input_writes_nothing_to_stdout(
        self, seeded: dict[str, str], fmt: str, args: list[str]
    ) -> None:
        # A CSV header or a lone `[` on stdout would reach whatever reads the pipe.
        r = run("export", "--format", fmt, *args, env=seeded)
        assert r.returncode == 1
        one_line_error(r.stderr)
        assert r.stdout == ""

    def test_missing_output_directory_is_usage_error(self, seeded: dict[str, str]) -> None:
        r = run("export", "--format", "csv", "-o", "/nonexistent-dir/x.csv", env=seeded)
        assert r.returncode == 2
        one_line_error(r.stderr)

    @pytest.mark.parametrize("args", [["export"], ["release"], ["release", "create"]])
    def test_help(self, args: list[str]) -> None:
        r = run(*args, "--help")
        assert r.returncode == 0
        assert "Usage" in r.stdout


class TestReleaseCommand:
    def test_blocked_forced_listed_pinned_and_diffed(
        self, fresh: dict[str, str], tmp_path: Path
    ) -> None:
        assert run("release", "list", env=fresh).stdout.startswith("no releases yet")
        # Items 4, 5 and 6 of the Minqin list share a code: an error-severity issue.
        blocked = run("release", "create", "2026-11", "--note", "首次发布", env=fresh)
        assert blocked.returncode == 1
        one_line_error(blocked.stderr)
        no_reason = run("release", "create", "2026-11", "--force", env=fresh)
        assert no_reason.returncode == 2
        one_line_error(no_reason.stderr)

        forced = run(
            "release",
            "create",
            "2026-11",
            "--force",
            "--reason",
            "重复编码已报核实",
            "--json",
            env=fresh,
        )
        assert forced.returncode == 0, forced.stderr
        assert json.loads(forced.stdout)["force_reason"] == "重复编码已报核实"
        listed = run("release", "list", env=fresh).stdout
        assert listed.startswith("2026-11\t")
        assert "\t9 items\t" in listed
        again = run("release", "create", "2026-11", "--force", "--reason", "x", env=fresh)
        assert again.returncode == 1
        one_line_error(again.stderr)

        unchanged = run("release", "diff", "2026-11", "current", env=fresh)
        assert unchanged.returncode == 0, unchanged.stderr
        assert unchanged.stdout.strip() == "2026-11 → current: 0 added, 0 changed, 0 withdrawn"

        # The same list with one item renamed: the import makes a new version of that item.
        edited = tmp_path / MINQIN.name
        edited.write_text(
            MINQIN.read_text(encoding="utf-8").replace(
                "对医保定点医药机构、医保经办机构、参保人骗取医保基金支出的处罚",
                "对骗取医保基金支出行为的处罚",
                1,
            ),
            encoding="utf-8",
        )
        assert run("import", str(edited), env=fresh).returncode == 0
        diff = run("release", "diff", "2026-11", "current", env=fresh)
        assert diff.returncode == 0, diff.stderr
        lines = diff.stdout.splitlines()
        assert lines[0] == "2026-11 → current: 0 added, 1 changed, 0 withdrawn"
        assert lines[1].startswith("~ ")
        assert "name" in lines[1].rsplit("\t", 1)[1].split(", ")
        as_json = json.loads(
            run("release", "diff", "2026-11", "current", "--json", env=fresh).stdout
        )
        assert as_json["changed"][0]["changes"][0]["after"] == "对骗取医保基金支出行为的处罚"

        pinned = run("export", "--format", "json", "--release", "2026-11", env=fresh)
        assert pinned.returncode == 0, pinned.stderr
        names = {d["name"] for d in json.loads(pinned.stdout)}
        assert "对医保定点医药机构、医保经办机构、参保人骗取医保基金支出的处罚" in names
        assert "对骗取医保基金支出行为的处罚" not in names

    @pytest.mark.parametrize(
        ("args", "code"),
        [
            (["release", "create", "bad name"], 2),
            (["release", "create", "current", "--force", "--reason", "x"], 1),
            (["release", "diff", "nope", "current"], 1),
            (["release", "diff", "a b", "current"], 2),
        ],
    )
    def test_bad_input_is_one_line(
        self, seeded: dict[str, str], args: list[str], code: int
    ) -> None:
        r = run(*args, env=seeded)
        assert r.returncode == code
        one_line_error(r.stderr)
