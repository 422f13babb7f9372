"""A headless Chromium driven over the Chrome DevTools Protocol, just enough for the docs tests.

Debian's `chromium` and the `websockets` package the server already depends on: no browser
download, no driver binary, no extra Python package.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.serving import stop

CHROMIUM = "chromium"
# Without the networking flags Chromium phones home at start, which this machine's closed network
# refuses (python-svc.md); --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,1800",
    "--remote-debugging-port=0",
)
# Waits end in a failure, never a hang; generous, because CI machines are slow and shared.
WAIT_S = 60.0


class BrowserError(AssertionError):
    """Chromium could not be started or did not do what the test asked."""


def chromium_path() -> str:
    found = shutil.which(CHROMIUM)
    if found is None:
        raise BrowserError(
            "Debian's chromium is not installed: run `make test`, which installs it "
            "(or `apt-get install -y chromium`)"
        )
    return found


def wait_for(what: str, probe: Callable[[], Any], *, timeout_s: float = WAIT_S) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` when it never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BrowserError(f"gave up waiting for {what} after {timeout_s:.0f}s")
        time.sleep(0.1)


class Page:
    """One tab: send commands, keep every event, evaluate script."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        command_id = self._next_id
        self.ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=WAIT_S))
            if message.get("id") == command_id:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def pump(self) -> None:
        """Collect the events that arrived since the last command."""
        while True:
            try:
                raw = self.ws.recv(timeout=0)
            except TimeoutError:
                return
            message = json.loads(raw)
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for_script(self, what: str, expression: str) -> Any:
        return wait_for(what, lambda: self.evaluate(expression))

    def screenshot(self, path: Path) -> None:
        """The visible part of the page (the window is 1280×1800)."""
        data = self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def events_named(self, method: str) -> list[dict[str, Any]]:
        self.pump()
        return [e["params"] for e in self.events if e["method"] == method]


@contextmanager
def chromium_page(profile_dir: Path) -> Iterator[Page]:
    """A fresh headless Chromium with an empty profile, and its first tab with Network on."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    log_path = profile_dir.parent / f"{profile_dir.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        port_file = profile_dir / "DevToolsActivePort"

        def devtools_port() -> str | None:
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")[-2000:]
                raise BrowserError(f"chromium exited with {process.returncode}: {output}")
            lines = port_file.read_text().splitlines() if port_file.exists() else []
            return lines[0] if lines else None

        port = wait_for("chromium's DevTools port", devtools_port)

        def page_socket() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
                targets = json.load(response)
            pages = [t for t in targets if t.get("type") == "page"]
            return str(pages[0]["webSocketDebuggerUrl"]) if pages else None

        url = wait_for("chromium's first tab", page_socket)
        with connect(url, max_size=None, proxy=None, open_timeout=WAIT_S) as ws:
            page = Page(ws)
            page.send("Network.enable")
            page.send("Page.enable")
            page.send("Runtime.enable")
            yield page
    finally:
        stop(process, WAIT_S)
