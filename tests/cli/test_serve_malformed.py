"""`powercat serve` answers what its HTTP parser cannot read with a problem document.

Such a request never reaches the app (uvicorn's parser refuses it first), so only a real server
shows the answer: before app/api/wire.py it was uvicorn's text/plain "Invalid HTTP request
received.", the one 4xx that was not problem+json.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from app.db import migrations
from tests.serving import get, serving

# One server on SQLite is enough: the parser answers before any database is asked.
pytestmark = pytest.mark.sqlite

MALFORMED = {
    "raw UTF-8 in the query": "GET /api/v1/items?q=医保 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "raw UTF-8 in the path": "GET /api/v1/items/by-code/医 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "no request line": b"NOT HTTP AT ALL\r\n\r\n",
    "a header line without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
}


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("serve-malformed")
    url = f"sqlite+aiosqlite:///{tmp / 'serve.db'}"
    migrations.upgrade(url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POWERCAT_")},
        "POWERCAT_DATABASE_URL": url,
        "POWERCAT_LOG_LEVEL": "WARNING",
    }
    with serving(env, tmp / "server.log") as base:
        parts = urlsplit(base)
        assert parts.hostname is not None
        assert parts.port is not None
        yield parts.hostname, parts.port


def _exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Everything the server sends back before it closes the connection."""
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_unparseable_request_gets_a_problem_and_a_closed_connection(
    address: tuple[str, int], request_bytes: bytes
) -> None:
    # _exchange returns only once the server has closed the connection.
    answer = _exchange(address, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["code"] == "bad_request"
    assert problem["type"] == "urn:problem-type:powercat:bad_request"
    assert "percent-encoded" in problem["detail"]
    # Nothing of what was sent comes back.
    assert "医" not in body.decode()
    assert "colon" not in body.decode()


def test_the_server_goes_on_serving_after_a_malformed_request(address: tuple[str, int]) -> None:
    _exchange(address, MALFORMED["raw UTF-8 in the query"])
    host, port = address
    assert get(f"http://{host}:{port}/healthz") is not None
    # The same term percent-encoded is an ordinary request.
    assert get(f"http://{host}:{port}/api/v1/items?q=%E5%8C%BB%E4%BF%9D") is not None
