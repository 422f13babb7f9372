"""`powercat validate` as a user runs it: a real process, real exit codes, text and JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbutil import drop_database, fresh_database
from tests.factories import DUNHUANG, MINQIN, SHARED_CODE

ROOT = Path(__file__).resolve().parents[2]

# Two complete items of one county bureau, each with its own valid code: nothing to report.
CLEAN_ITEMS = [
    {
        "agency": "民勤县医疗保障局",
        "seq": seq,
        "name": name,
        "power_type": label,
        "local_code": code,
        "exercising_body": "民勤县医疗保障局",
        "handling_unit": "基金监管股",
        "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条",
        "responsibilities": "1.立案阶段责任：对违法行为立案调查。",
        "accountability": "因不履行或不正确履行行政职责的，依法追究责任。",
    }
    for seq, name, label, code in [
        (1, "对骗取医保基金支出的处罚", "行政处罚", "11620621MB176555834620236001000"),
        (2, "对医疗救助对象救助金的给付", "行政给付", "11620621MB176555834620536001000"),
    ]
]


def run(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "POWERCAT_DATABASE_URL": db},
        timeout=300,
        check=False,
    )


def _migrated(name: str, tmp: Path) -> str:
    url = fresh_database(name, tmp)
    up = run("db", "upgrade", db=url)
    assert up.returncode == 0, up.stderr
    return url


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    url = _migrated(f"valseed{worker_id}", tmp_path_factory.mktemp("validate"))
    imported = run("import", str(MINQIN), str(DUNHUANG), db=url)
    assert imported.returncode == 0, imported.stderr
    yield url
    drop_database(url)


@pytest.fixture
def clean_db(tmp_path: Path, worker_id: str) -> Iterator[str]:
    url = _migrated(f"valclean{worker_id}", tmp_path)
    yield url
    drop_database(url)


class TestOnTheSeeds:
    def test_duplicate_makes_exit_1_with_a_readable_line(self, seeded_db: str) -> None:
        r = run("validate", db=seeded_db)
        assert r.returncode == 1, r.stderr
        lines = r.stdout.strip().splitlines()
        error_lines = [line for line in lines if line.startswith("error\t")]
        assert len(error_lines) == 1
        assert "code.duplicate" in error_lines[0]
        assert "民勤县医疗保障局第4、5、6项" in error_lines[0]
        assert lines[-1] == "61 issues (error 1, warning 56, info 4)"
        assert r.stderr == ""

    def test_json_shape(self, seeded_db: str) -> None:
        r = run("validate", "--format", "json", db=seeded_db)
        assert r.returncode == 1
        body = json.loads(r.stdout)
        assert set(body) == {"issues", "counts"}
        assert body["counts"] == {"error": 1, "warning": 56, "info": 4}
        assert len(body["issues"]) == 61
        first = body["issues"][0]
        assert set(first) == {"rule", "severity", "message", "field", "items", "value"}
        assert (first["rule"], first["severity"], first["value"]) == (
            "code.duplicate",
            "error",
            SHARED_CODE,
        )
        assert [set(i) for i in first["items"]] == [{"id", "seq", "agency", "name"}] * 3
        assert [i["seq"] for i in first["items"]] == [4, 5, 6]

    def test_agency_without_errors_exits_0(self, seeded_db: str) -> None:
        r = run("validate", "--agency", "敦煌市医疗保障局", "--format", "json", db=seeded_db)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["counts"] == {"error": 0, "warning": 56, "info": 4}

    def test_unknown_agency_is_a_one_line_usage_error(self, seeded_db: str) -> None:
        r = run("validate", "--agency", "不存在的部门", db=seeded_db)
        assert r.returncode == 2
        assert r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1
        assert r.stderr.startswith("powercat: error: ")
        assert "Traceback" not in r.stderr

    def test_unknown_format_is_a_usage_error(self, seeded_db: str) -> None:
        r = run("validate", "--format", "xml", db=seeded_db)
        assert r.returncode == 2
        assert r.stderr.startswith("powercat: error: ")


class TestOnACleanCatalogue:
    def test_clean_list_exits_0(self, clean_db: str, tmp_path: Path) -> None:
        listing = tmp_path / "clean.ndjson"
        listing.write_text(
            "\n".join(json.dumps(item, ensure_ascii=False) for item in CLEAN_ITEMS) + "\n",
            encoding="utf-8",
        )
        imported = run("import", str(listing), db=clean_db)
        assert imported.returncode == 0, imported.stderr
        r = run("validate", db=clean_db)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == "0 issues (error 0, warning 0, info 0)"
        j = run("validate", "--format", "json", db=clean_db)
        assert j.returncode == 0
        assert json.loads(j.stdout) == {
            "issues": [],
            "counts": {"error": 0, "warning": 0, "info": 0},
        }

    def test_help(self) -> None:
        r = subprocess.run(
            [sys.executable, "-m", "app.cli", "validate", "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0
        assert "--format" in r.stdout
        assert "--agency" in r.stdout
