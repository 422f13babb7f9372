"""A client that leaves in the middle of a download, or a request the edge stops at its time
limit, costs the server nothing but that request.

Only a real server shows it: the disconnect cancels the body's task while the export reads the
database, and what the server logs then is the test. Before the export's database calls were
shielded (app/services/exports.py, snapshot_session), about one aborted CSV download in ten on
SQLite logged "Task was destroyed but it is pending!" for the connection's close, and some a
failed pool reset with a CancelledError traceback.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from app.db import migrations
from tests.factories import DUNHUANG, MINQIN, seed_committed
from tests.serving import get, serving

# The export's reads on SQLite are where it showed; the server's log is the same on either.
pytestmark = pytest.mark.sqlite

ABORTS = 40


def _seeded(tmp_path: Path) -> dict[str, str]:
    """The environment of a server over both seed lists in a SQLite file, logging warnings."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    migrations.upgrade(url)
    asyncio.run(seed_committed(url, MINQIN, DUNHUANG))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("POWERCAT_")},
        "POWERCAT_DATABASE_URL": url,
        "POWERCAT_LOG_LEVEL": "WARNING",
    }


def _abort_download(host: str, port: int, path: str) -> None:
    """Ask for `path`, read the first bytes of the answer, and hang up."""
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert connection.recv(100).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_downloads_abandoned_halfway_leave_nothing_in_the_log(tmp_path: Path, fmt: str) -> None:
    env = _seeded(tmp_path)
    log = tmp_path / "server.log"
    with serving(env, log) as base:
        parts = urlsplit(base)
        assert parts.hostname is not None
        assert parts.port is not None
        for _ in range(ABORTS):
            _abort_download(parts.hostname, parts.port, f"/api/v1/exports?format={fmt}")
            time.sleep(0.01)
        # Still serving, whole downloads included.
        whole = get(f"{base}/api/v1/exports?format={fmt}")
        assert whole is not None
        assert len(whole) > 50_000
    assert log.read_text(errors="replace").strip() == ""


def test_requests_stopped_at_the_time_limit_leave_only_their_warning_in_the_log(
    tmp_path: Path,
) -> None:
    # The edge cancels a request past POWERCAT_REQUEST_TIMEOUT_S inside whatever it awaits:
    # here aiosqlite's queries, as the aborted downloads' were.
    env = {**_seeded(tmp_path), "POWERCAT_REQUEST_TIMEOUT_S": "0.005"}
    log = tmp_path / "server.log"
    search = "/api/v1/items?limit=1000&q=" + quote("医疗")
    statuses: list[int] = []
    media_types: set[str] = set()
    # /readyz reads the database and would time out too; /healthz does not.
    with serving(env, log, ready="/healthz") as base:
        for _ in range(ABORTS):
            try:
                with urllib.request.urlopen(base + search, timeout=5) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as refused:
                media_types.add(refused.headers["content-type"])
                statuses.append(refused.code)
        # Still serving (a /healthz may itself be stopped on a busy machine: ask again).
        assert any(get(f"{base}/healthz") is not None for _ in range(20))
    assert 503 in statuses, statuses
    assert media_types == {"application/problem+json"}
    assert set(statuses) <= {200, 503}, statuses
    # Nothing but the edge's own warning, once for each request it stopped (the searches, and on
    # a busy machine a /healthz or two).
    warning = "WARNING powercat.http: request timed out after 0.005s: "
    lines = log.read_text(errors="replace").splitlines()
    assert all(line.startswith(warning) for line in lines), lines
    searches = [line for line in lines if line == warning + "/api/v1/items"]
    assert len(searches) == statuses.count(503)
