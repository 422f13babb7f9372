"""The powercat command as a user runs it: a real process, real exit codes, one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.base import CliError
from app.cli.db import _check_address

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=120,
        check=False,
    )


class TestDbCommands:
    def test_upgrade_current_downgrade_round_trip(self, empty_url: str) -> None:
        env = {"POWERCAT_DATABASE_URL": empty_url}
        # A SQLite file is made by the upgrade, never by asking (PostgreSQL's database exists).
        assert "none (" in run("db", "current", env=env).stdout
        up = run("db", "upgrade", env=env)
        assert up.returncode == 0, up.stderr
        assert "(head)" in run("db", "current", env=env).stdout
        down = run("db", "downgrade", "base", env=env)
        assert down.returncode == 0, down.stderr
        assert "not migrated" in run("db", "current", env=env).stdout

    @pytest.mark.sqlite
    def test_reading_commands_leave_no_empty_database_behind(self, tmp_path: Path) -> None:
        env = {"POWERCAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/new/x.db"}
        current = run("db", "current", env=env)
        assert current.stdout == "none (no database file yet): run `powercat db upgrade`\n"
        for args in (["keys", "list"], ["release", "list"], ["export", "--format", "csv"]):
            r = run(*args, env=env)
            assert r.returncode == 1
            assert r.stderr.splitlines() == [
                f"powercat: error: no database at {tmp_path}/new/x.db: run `powercat db upgrade`"
            ]
        assert list(tmp_path.iterdir()) == []
        assert run("db", "upgrade", env=env).returncode == 0
        assert "(head)" in run("db", "current", env=env).stdout

    def test_unreachable_database_is_one_line_error(self) -> None:
        r = run(
            "db",
            "upgrade",
            env={"POWERCAT_DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:1/x"},
        )
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("powercat: error: cannot reach the database")
        assert "pw" not in r.stderr
        assert "Traceback" not in r.stderr

    @pytest.mark.parametrize("command", ["upgrade", "downgrade"])
    def test_an_unknown_revision_is_one_line_error(self, migrated_url: str, command: str) -> None:
        r = run("db", command, "nope", env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 1
        assert r.stderr == "powercat: error: Can't locate revision identified by 'nope'\n"

    def test_unsupported_database_url_is_one_line_error(self) -> None:
        r = run("db", "current", env={"POWERCAT_DATABASE_URL": "mysql://x/y"})
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [
            "powercat: error: unsupported database 'mysql': use sqlite+aiosqlite:// or postgresql+asyncpg://"
        ]


class TestUsage:
    @pytest.mark.parametrize("args", [[], ["db"], ["serve"], ["openapi"], ["db", "upgrade"]])
    def test_every_command_has_help(self, args: list[str]) -> None:
        r = run(*args, "--help")
        assert r.returncode == 0
        assert "Usage" in r.stdout

    @pytest.mark.parametrize(
        ("args", "line"),
        [
            (
                ["db", "downgrade"],
                "Missing argument 'revision'. (see 'python -m app.cli db downgrade --help')",
            ),
            (
                ["keys", "revoke", "abc"],
                "Invalid value for 'key_id': Input should be a valid integer, unable to parse"
                " string as an integer (see 'python -m app.cli keys revoke --help')",
            ),
            (["export"], "Missing option '--format'. (see 'python -m app.cli export --help')"),
            (
                ["release", "create", "--note"],
                "Option '--note' requires an argument. (see 'python -m app.cli release create"
                " --help')",
            ),
            (["nosuchcmd"], "No such command 'nosuchcmd'. (see 'python -m app.cli --help')"),
        ],
    )
    def test_usage_errors_are_one_line_and_exit_2(self, args: list[str], line: str) -> None:
        # run() calls `python -m app.cli`, and the hint names the command as it was called.
        r = run(*args)
        assert r.returncode == 2
        assert r.stderr.splitlines() == [f"powercat: error: {line}"]
        assert r.stdout == ""

    @pytest.mark.parametrize("args", [[], ["keys"]])
    def test_a_command_given_nothing_shows_its_help(self, args: list[str]) -> None:
        r = run(*args)
        assert r.returncode == 2
        assert "Usage" in r.stdout + r.stderr
        assert "error" not in r.stderr

    @pytest.mark.parametrize(
        ("args", "code"),
        [
            (["validate"], 2),  # validate's exit 1 means "the data has errors"
            (["export", "--format", "csv"], 1),
            (["keys", "create", "--name", "k", "--reason", "r"], 1),
        ],
        ids=["validate", "export", "keys-create"],
    )
    def test_an_unknown_agency_is_told_alike_by_every_command(
        self, migrated_url: str, args: list[str], code: int
    ) -> None:
        r = run(*args, "--agency", "不存在的部门", env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == code
        assert r.stderr == "powercat: error: agency '不存在的部门' does not exist\n"
        assert r.stdout == ""


class TestServe:
    def test_a_port_in_use_is_one_line_error(self, migrated_url: str) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            r = run("serve", "--port", str(port), env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 1
        assert (
            r.stderr
            == f"powercat: error: cannot listen on 127.0.0.1:{port}: address already in use\n"
        )
        assert r.stdout == ""

    def test_an_ipv6_port_in_use_is_named_in_brackets(self, migrated_url: str) -> None:
        with socket.socket(socket.AF_INET6) as taken:
            taken.bind(("::1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            r = run(
                "serve",
                "--host",
                "::1",
                "--port",
                str(port),
                env={"POWERCAT_DATABASE_URL": migrated_url},
            )
        assert r.returncode == 1
        assert (
            r.stderr == f"powercat: error: cannot listen on [::1]:{port}: address already in use\n"
        )

    def test_ipv6_any_is_checked_as_uvicorn_will_listen(self) -> None:
        # One worker listens on :: for IPv6 alone, so an IPv4 listener on the port is no
        # obstacle; several share a socket that takes the IPv4 port as well.
        with socket.socket() as ipv4:
            ipv4.bind(("0.0.0.0", 0))
            ipv4.listen()
            port = ipv4.getsockname()[1]
            _check_address("::", port, workers=1)
            with pytest.raises(CliError, match=r"cannot listen on \[::\]:"):
                _check_address("::", port, workers=2)

    def test_a_host_that_is_not_this_machines_is_one_line_error(self, migrated_url: str) -> None:
        # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no machine's own address.
        r = run("serve", "--host", "192.0.2.1", env={"POWERCAT_DATABASE_URL": migrated_url})
        assert r.returncode == 1
        assert r.stderr == (
            "powercat: error: cannot listen on 192.0.2.1:8000: cannot assign requested address\n"
        )
