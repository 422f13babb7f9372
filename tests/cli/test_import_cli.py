"""`powercat import` as a user runs it, including a process killed in the middle of an import."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, make_url, select, text

from app.db.engine import create_engine
from app.models import ImportBatch, Item
from app.services.importers.structured import FLAT_COLUMNS
from app.settings import Settings
from tests.cli.test_cli import ROOT, run
from tests.factories import DUNHUANG, MINQIN, SHARED_CODE
from tests.import_samples import csv_bytes, export_rows


def _count(url: str, model: type[Item] | type[ImportBatch]) -> int:
    async def go() -> int:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.connect() as conn:
                return int(
                    (await conn.execute(select(func.count()).select_from(model))).scalar_one()
                )
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _dry_run_report(url: str, path: Path) -> dict[str, Any]:
    """The JSON report of `powercat import --dry-run --json path`, which must succeed."""
    r = run("import", "--dry-run", "--json", str(path), env={"POWERCAT_DATABASE_URL": url})
    assert r.returncode == 0, r.stderr
    (report,) = json.loads(r.stdout)
    return cast(dict[str, Any], report)


class TestImportCommand:
    def test_imports_seeds_then_reports_unchanged(self, migrated_url: str) -> None:
        env = {"POWERCAT_DATABASE_URL": migrated_url}
        first = run("import", str(MINQIN), str(DUNHUANG), env=env)
        assert first.returncode == 0, first.stderr
        assert "9 new" in first.stdout
        assert "28 new" in first.stdout
        again = run("import", str(MINQIN), env=env)
        assert again.returncode == 0
        assert "unchanged" in again.stdout
        assert _count(migrated_url, Item) == 37

    def test_dry_run_json_report_and_nothing_written(self, migrated_url: str) -> None:
        report = _dry_run_report(migrated_url, DUNHUANG)
        assert report["status"] == "dry_run"
        assert report["counts"]["new"] == 28
        assert _count(migrated_url, Item) == 0

    def test_dry_run_json_lists_the_issues_the_file_would_add(self, migrated_url: str) -> None:
        report = _dry_run_report(migrated_url, MINQIN)
        assert report["status"] == "dry_run"
        assert [
            (i["rule"], i["severity"], i["value"], [(x["id"], x["seq"]) for x in i["items"]])
            for i in report["validation"]
        ] == [("code.duplicate", "error", SHARED_CODE, [(None, 4), (None, 5), (None, 6)])]
        assert _count(migrated_url, Item) == 0

    @pytest.mark.parametrize(
        "content",
        [b"", b"\x00\x01garbage\xff", "序号\t名称\n".encode()],
        ids=["empty", "binary", "headerless"],
    )
    def test_bad_file_is_one_line_error_and_nothing_written(
        self, migrated_url: str, tmp_path: Path, content: bytes
    ) -> None:
        bad = tmp_path / "bad.txt"
        bad.write_bytes(content)
        r = run("import", str(bad), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("powercat: error: ")
        assert "nothing imported" in lines[0]
        assert _count(migrated_url, Item) == 0
        assert _count(migrated_url, ImportBatch) == 0

    def test_missing_file_and_unknown_format(self, migrated_url: str, tmp_path: Path) -> None:
        env = {"POWERCAT_DATABASE_URL": migrated_url}
        missing = run("import", str(tmp_path / "nope.tsv"), env=env)
        assert missing.returncode == 1
        assert "no such file" in missing.stderr
        directory = run("import", str(tmp_path), env=env)
        assert directory.returncode == 1
        hint = f"name the files in it (e.g. {tmp_path}/*.txt)"
        assert directory.stderr.splitlines() == [
            f"powercat: error: {tmp_path}: a directory; {hint}"
        ]
        fmt = run("import", "--format", "docx", str(MINQIN), env=env)
        assert fmt.returncode == 2

    def test_unmigrated_database_is_one_line_error(self, tmp_path: Path) -> None:
        r = run("import", str(MINQIN), env={"POWERCAT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
        assert r.returncode == 1
        assert "powercat db upgrade" in r.stderr


class TestImportJobs:
    """`--jobs`: PostgreSQL writes files of different agencies at once; the outcome is that of
    the files imported one after another (on SQLite they are)."""

    def test_outcome_and_output_are_those_of_a_serial_run(
        self, migrated_url: str, tmp_path: Path
    ) -> None:
        a, b = "并行甲县医疗保障局", "并行乙县医疗保障局"
        files = {
            "a1.csv": csv_bytes(export_rows(30, agency=a)),
            "b1.csv": csv_bytes(export_rows(20, agency=b)),
            "bad.csv": b"\x00\x01garbage\xff",
            "a2.csv": csv_bytes(export_rows(30, agency=a, remarks="第二版")),
            "b2.csv": csv_bytes(export_rows(20, agency=b, remarks="第二版")[:15]),
        }
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        names = [*files, "missing.csv"]
        args = [str(tmp_path / name) for name in names]
        r = run("import", "--jobs", "3", *args, env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 1, r.stderr
        # Reports and errors in the order the files were given, whatever order they finished in.
        lines = {line.split(":")[0]: line for line in r.stdout.splitlines() if ": imported" in line}
        assert list(lines) == ["a1.csv", "b1.csv", "a2.csv", "b2.csv"]
        assert [line.split(": ")[2] for line in r.stderr.splitlines()] == [
            str(tmp_path / "bad.csv"),
            str(tmp_path / "missing.csv"),
        ]
        # Each agency's second list was matched against its first, as in a serial run.
        assert "30 items, 30 new, 0 changed" in lines["a1.csv"]
        assert "30 items, 0 new, 30 changed" in lines["a2.csv"]
        assert "15 items, 0 new, 15 changed, 0 unchanged, 0 restored, 5 vanished" in lines["b2.csv"]
        assert _count(migrated_url, Item) == 50
        assert _count(migrated_url, ImportBatch) == 4

    def test_jobs_must_be_a_small_positive_number(self, migrated_url: str) -> None:
        for jobs in ("0", "17", "many"):
            r = run(
                "import", "--jobs", jobs, str(MINQIN), env={"POWERCAT_DATABASE_URL": migrated_url}
            )
            assert r.returncode == 2, (jobs, r.stderr)
            assert "--jobs" in r.stderr
        assert _count(migrated_url, Item) == 0


def _big_csv(path: Path, rows: int) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FLAT_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for i in range(rows):
        writer.writerow(
            {
                "agency": "测试县医疗保障局",
                "seq": i + 1,
                "name": f"对第{i}项违反医疗保障基金使用规定行为的处罚",
                "power_type_raw": "行政处罚",
                "exercising_body": "测试县医疗保障局",
                "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条：" + "定点医药机构" * 40,
                "responsibilities": "1.立案阶段责任：" + "调查取证" * 30,
                "accountability": "1.没有法律和事实依据实施行政处罚的；" * 10,
            }
        )
    path.write_text(out.getvalue(), encoding="utf-8")


def _writing(url: str) -> bool:
    """True once the importer's transaction has written rows that are not committed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        wal = Path(f"{parsed.database}-wal")
        return wal.exists() and wal.stat().st_size > 2_000_000

    async def go() -> bool:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.connect() as conn:
                n = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                    )
                )
                return bool(n)
        finally:
            await engine.dispose()

    return asyncio.run(go())


class TestKilledImport:
    def test_process_killed_mid_import_leaves_database_as_it_was(
        self, migrated_url: str, tmp_path: Path
    ) -> None:
        big = tmp_path / "big.csv"
        _big_csv(big, 12_000)
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "import", str(big)],
            cwd=ROOT,
            env={**os.environ, "POWERCAT_DATABASE_URL": migrated_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(1200):
                if proc.poll() is not None or _writing(migrated_url):
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the import finished before it could be killed: enlarge it"
            assert _writing(migrated_url), "the import never started writing"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
        assert _count(migrated_url, Item) == 0
        assert _count(migrated_url, ImportBatch) == 0
        # The database is usable afterwards: the same import runs to the end.
        after = run("import", str(MINQIN), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert after.returncode == 0, after.stderr
        assert _count(migrated_url, Item) == 9
