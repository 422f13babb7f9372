"""`powercat serve` as a real process on a free port, for the tests that need a real server."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes | None:
    """The body of a 2xx answer to GET `url`; None when the server does not answer so."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path, *options: str, ready: str = "/readyz") -> Iterator[str]:
    """`python -m app.cli serve` with `options` on a free port, its output in `log`; its base
    URL once it answers `ready`. Stopped (SIGTERM, as an operator would) on the way out."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *options],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_S
        while get(f"{base}{ready}") is None:
            if process.poll() is not None or time.monotonic() > deadline:
                output = log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"powercat serve did not come up ({process.poll()}): {output}")
            time.sleep(0.1)
        yield base
    finally:
        stop(process, START_S)


def stop(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, as an operator would stop it; SIGKILL if it is still there after `timeout_s`."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
