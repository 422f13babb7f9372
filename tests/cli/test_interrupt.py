"""Ctrl-C: one line, exit 130, and what the command had begun rolled back.

The import is interrupted while it holds its write transaction (seen from outside, by the lock it
holds), so the test shows the file's rows gone, not an interrupt that came before any write.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text

import app.cli
from app.db.engine import create_engine, parse_url, sqlite_file
from app.settings import Settings
from bench.generate import items
from tests.cli.import_helpers import db_counts, seed_minqin
from tests.cli.test_cli import ROOT

WAIT_S = 120.0
# Enough rows that the import's write transaction lasts a good while on either database.
ITEMS = 5000

# The relation locks of an open writer of item rows, in this database only (other tests' databases
# on the same server have their own `item`).
PG_WRITER = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    "WHERE c.relname = 'item' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid() "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _sqlite_writer_open(path: Path) -> bool:
    """Whether another connection holds SQLite's write lock: ours cannot take it at once."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        connection.close()


async def _until_writing(url: str, process: subprocess.Popen[str]) -> None:
    """Return once `process` is inside its write transaction; fail if it ends before that."""
    deadline = time.monotonic() + WAIT_S
    database = sqlite_file(parse_url(url))
    engine = None if database is not None else create_engine(Settings(database_url=url))
    try:
        while True:
            assert process.poll() is None, "the import ended before it was seen writing"
            assert time.monotonic() < deadline, "the import was never seen writing"
            if database is not None:
                if _sqlite_writer_open(database):
                    return
            else:
                assert engine is not None
                async with engine.connect() as connection:
                    if await connection.scalar(PG_WRITER):
                        return
            await asyncio.sleep(0.02)
    finally:
        if engine is not None:
            await engine.dispose()


def _start(args: Sequence[str], url: str) -> subprocess.Popen[str]:
    # A child of a shell without job control may start with SIGINT ignored; the user's terminal
    # delivers it, so the command under test gets it as a terminal would.
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**os.environ, "POWERCAT_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_ctrl_c_during_an_import_rolls_the_file_back(migrated_url: str, tmp_path: Path) -> None:
    seed_minqin(migrated_url)
    before = db_counts(migrated_url)
    big = tmp_path / "big.ndjson"
    with big.open("w", encoding="utf-8") as out:
        for item in itertools.islice(items(ITEMS), ITEMS):
            out.write(json.dumps(item, ensure_ascii=False) + "\n")

    process = _start(["import", str(big)], migrated_url)
    try:
        asyncio.run(_until_writing(migrated_url, process))
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert stderr == "powercat: error: interrupted\n"
    assert stdout == ""
    assert db_counts(migrated_url) == before


class _InterruptLoading(importlib.abc.MetaPathFinder):
    """Ctrl-C as the commands load: the import of app.cli.console is where it lands."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname == "app.cli.console":
            raise KeyboardInterrupt


def test_ctrl_c_while_the_commands_load_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "app.cli.console", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptLoading(), *sys.meta_path])
    with pytest.raises(SystemExit) as ended:
        app.cli.main()
    assert ended.value.code == 130
    assert capsys.readouterr().err == "powercat: error: interrupted\n"
