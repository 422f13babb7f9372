"""Helpers for the `powercat import` CLI tests: a fresh database, its row counts, a terminal."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import create_engine
from app.settings import Settings
from tests.cli.test_cli import ROOT
from tests.factories import MINQIN, import_file, table_counts


def db_counts(url: str) -> dict[str, int]:
    """tests.factories.table_counts of the database at `url`, seen from outside the CLI."""

    async def go() -> dict[str, int]:
        engine = create_engine(Settings(database_url=url))
        try:
            async with AsyncSession(engine) as session:
                return await table_counts(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def seed_minqin(url: str) -> None:
    """Import the 民勤县 seed through the service and commit, so refusals have data to keep."""

    async def go() -> None:
        engine = create_engine(Settings(database_url=url))
        try:
            async with AsyncSession(engine) as session, session.begin():
                await import_file(session, MINQIN)
        finally:
            await engine.dispose()

    asyncio.run(go())


@dataclass(frozen=True, slots=True)
class TerminalRun:
    returncode: int
    shown: str  # what the terminal received
    stdout: str  # what went to stdout when it was redirected to a file
    stderr: str  # likewise for stderr


def run_on_terminal(
    *args: str, env: dict[str, str], stdout_tty: bool, stderr_tty: bool, tmp_path: Path
) -> TerminalRun:
    """Run powercat with stdout and/or stderr on a pseudo-terminal of 120 columns.

    A stream that is not on the terminal goes to a file, as a shell's `>` would send it.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    full_env = {**os.environ, **env, "TERM": "xterm-256color"}
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        full_env.pop(name, None)
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    shown = bytearray()
    with out_path.open("wb") as out_file, err_path.open("wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_tty else out_file,
            stderr=slave if stderr_tty else err_file,
        )
        os.close(slave)
        try:
            while True:
                ready, _, _ = select.select([master], [], [], 120)
                if not ready:
                    break  # a hang: the exit code below tells
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end of the terminal
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(master)
            code = proc.wait(timeout=120)
    return TerminalRun(
        code,
        shown.decode("utf-8", "replace"),
        out_path.read_text(encoding="utf-8"),
        err_path.read_text(encoding="utf-8"),
    )
