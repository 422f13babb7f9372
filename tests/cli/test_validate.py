"""`powercat validate` as a user runs it: a real process, real exit codes, text and JSON output."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
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


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TERMINAL_COLUMNS = 1000  # wide enough that no cell of the seeds' table wraps


def run_on_terminal(*args: str, db: str) -> tuple[int, str]:
    """Run powercat with its output on a pseudo-terminal; (exit code, text without colours)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 60, TERMINAL_COLUMNS, 0, 0))
    env = {
        **os.environ,
        "POWERCAT_DATABASE_URL": db,
        "COLUMNS": str(TERMINAL_COLUMNS),
        "TERM": "xterm-256color",
    }
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        cwd=ROOT,
        env=env,
    )
    os.close(secondary)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    code = proc.wait(timeout=300)
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    return code, ANSI.sub("", text)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table: the cells of each line between │ borders."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.strip().startswith("│")
    ]


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

    @pytest.mark.parametrize(
        ("db", "reason"),
        [
            ("postgresql+asyncpg://nobody@127.0.0.1:1/none", "cannot reach the database"),
            ("sqlite+aiosqlite:///{tmp}/empty.db", "not migrated"),
            ("sqlite+aiosqlite:///{tmp}/none/x.db", "no database at"),
        ],
        ids=["unreachable", "not-migrated", "no-file"],
    )
    def test_a_check_that_cannot_run_exits_3_not_1(
        self, db: str, reason: str, tmp_path: Path
    ) -> None:
        (tmp_path / "empty.db").touch()
        # Exit 1 means the catalogue has errors; a script must be able to tell that apart.
        r = run("validate", db=db.format(tmp=tmp_path))
        assert r.returncode == 3
        [line] = r.stderr.splitlines()
        assert line.startswith("powercat: error: ")
        assert reason in line
        assert r.stdout == ""
        # Asking leaves no empty database file, nor its directory, behind.
        assert not (tmp_path / "none").exists()

    def test_unknown_format_is_a_usage_error(self, seeded_db: str) -> None:
        r = run("validate", "--format", "xml", db=seeded_db)
        assert r.returncode == 2
        assert r.stderr.startswith("powercat: error: ")


class TestOnATerminal:
    def test_table_lists_every_issue_with_rule_severity_and_items(self, seeded_db: str) -> None:
        code, text = run_on_terminal("validate", db=seeded_db)
        assert code == 1, text
        header = next(line for line in text.splitlines() if "┃" in line)
        assert [c.strip() for c in header.strip().strip("┃").split("┃")] == [
            "severity",
            "rule",
            "items",
            "field",
            "message",
        ]
        rows = table_rows(text)
        assert len(rows) == 61
        assert rows[0][:4] == [
            "error",
            "code.duplicate",
            "民勤县医疗保障局第4、5、6项",
            "local_code",
        ]
        assert SHARED_CODE in rows[0][4]
        assert sum(1 for r in rows if r[0] == "error") == 1
        assert {(r[0], r[1]) for r in rows[1:]} == {
            ("warning", "item.missing_code"),
            ("warning", "item.missing_level_or_handling_unit"),
            ("info", "type.nonstandard_label"),
        }
        assert [r[2] for r in rows if r[1] == "type.nonstandard_label"] == [
            f"敦煌市医疗保障局第{seq}项" for seq in (17, 18, 19, 20)
        ]
        # Cell for cell what the tab-separated lines (not a terminal) say.
        plain = run("validate", db=seeded_db).stdout.strip().splitlines()
        assert rows == [line.split("\t") for line in plain[:-1]]
        assert text.strip().splitlines()[-1] == "61 issues (error 1, warning 56, info 4)"

    def test_agency_without_errors_exits_0_with_its_table(self, seeded_db: str) -> None:
        code, text = run_on_terminal("validate", "--agency", "敦煌市医疗保障局", db=seeded_db)
        assert code == 0, text
        rows = table_rows(text)
        assert len(rows) == 60
        assert {r[0] for r in rows} == {"warning", "info"}
        assert text.strip().splitlines()[-1] == "60 issues (error 0, warning 56, info 4)"

    def test_clean_catalogue_exits_0_without_a_table(self, clean_db: str, tmp_path: Path) -> None:
        listing = tmp_path / "clean.ndjson"
        listing.write_text(
            "\n".join(json.dumps(item, ensure_ascii=False) for item in CLEAN_ITEMS) + "\n",
            encoding="utf-8",
        )
        assert run("import", str(listing), db=clean_db).returncode == 0
        code, text = run_on_terminal("validate", db=clean_db)
        assert code == 0, text
        assert table_rows(text) == []
        assert text.strip() == "0 issues (error 0, warning 0, info 0)"


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


class TestRulesDoc:
    DOC = ROOT / "docs" / "validation.md"
    NO_DB = "sqlite+aiosqlite:///./var/unused-by-rules-doc.db"

    def test_the_committed_doc_is_up_to_date(self) -> None:
        r = run("rules-doc", "--check", str(self.DOC), db=self.NO_DB)
        assert r.returncode == 0, r.stderr

    def test_a_stale_section_fails_the_check_and_is_rewritten(self, tmp_path: Path) -> None:
        committed = self.DOC.read_text(encoding="utf-8")
        stale = committed.replace("- severity: **error**", "- severity: **warning**", 1)
        assert stale != committed
        copy = tmp_path / "validation.md"
        copy.write_text(stale, encoding="utf-8")
        checked = run("rules-doc", "--check", str(copy), db=self.NO_DB)
        assert checked.returncode == 1
        assert checked.stderr.startswith("powercat: error: ")
        assert len(checked.stderr.strip().splitlines()) == 1
        assert copy.read_text(encoding="utf-8") == stale
        written = run("rules-doc", str(copy), db=self.NO_DB)
        assert written.returncode == 0, written.stderr
        assert copy.read_text(encoding="utf-8") == committed

    def test_a_doc_without_the_section_is_a_one_line_error(self, tmp_path: Path) -> None:
        copy = tmp_path / "other.md"
        copy.write_text("# Validation\n\nno generated section here\n", encoding="utf-8")
        r = run("rules-doc", str(copy), db=self.NO_DB)
        assert r.returncode == 1
        assert r.stderr.startswith("powercat: error: ")
        assert "Traceback" not in r.stderr
        assert copy.read_text(encoding="utf-8").endswith("no generated section here\n")
