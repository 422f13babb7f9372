"""The offline API docs work in a real browser: the real server, headless Chromium, no network.

The server runs as `python -m app.cli serve` on a scratch SQLite database loaded with seed/;
Chromium loads /docs and /redoc, every request it makes must go to this server and succeed, and
Swagger UI's "Try it out" must get a real answer. Screenshots land in var/test-artifacts/.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.cdp import Page, chromium_page
from tests.cli.test_cli import run
from tests.serving import get, serving

# One server on SQLite is enough: the pages are the same whatever the database.
pytestmark = pytest.mark.sqlite

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
SEED_FILES = sorted(str(p) for p in (ROOT / "seed").glob("*.txt"))
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# The operation tried from the page: a read that needs no key and answers from seeded data.
TRY_OPERATION = ("reference", "list_power_types")


def _cli(env: dict[str, str], *args: str) -> None:
    result = run(*args, env=env)
    assert result.returncode == 0, f"powercat {args[0]} failed: {result.stderr or result.stdout}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`powercat serve` on a free port and a scratch database with seed/ loaded; its base URL."""
    tmp = tmp_path_factory.mktemp("docs-server")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POWERCAT_")},
        "POWERCAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'docs.db'}",
        "POWERCAT_LOG_LEVEL": "WARNING",
    }
    _cli(env, "db", "upgrade")
    _cli(env, "import", *SEED_FILES)
    with serving(env, tmp / "server.log") as base:
        yield base


def test_real_server_sends_no_banner(server: str) -> None:
    """`powercat serve` turns off uvicorn's `server` header: no software name or version leaks."""
    with urllib.request.urlopen(f"{server}/healthz", timeout=5) as response:
        assert response.status == 200
        assert response.headers.get("server") is None
        assert response.headers.get("x-content-type-options") == "nosniff"


@pytest.fixture(scope="module")
def operation_count(server: str) -> int:
    spec = json.loads(get(f"{server}/openapi.json") or b"{}")
    return sum(len(methods) for methods in spec["paths"].values())


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium_page(tmp_path / "chromium-profile") as p:
        yield p


def _network_problems(page: Page) -> list[str]:
    """Requests that left this machine's server, failed, or got an error status."""
    problems = []
    for sent in page.events_named("Network.requestWillBeSent"):
        url = sent["request"]["url"]
        parts = urlsplit(url)
        if parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOCAL_HOSTS:
            problems.append(f"request to another host: {url}")
    problems += [
        f"failed: {failed.get('errorText')} (request {failed['requestId']})"
        for failed in page.events_named("Network.loadingFailed")
    ]
    problems += [
        f"HTTP {got['response']['status']}: {got['response']['url']}"
        for got in page.events_named("Network.responseReceived")
        if got["response"]["status"] >= 400
    ]
    return problems


def _requested(page: Page) -> list[str]:
    return [sent["request"]["url"] for sent in page.events_named("Network.requestWillBeSent")]


def _click(page: Page, selector: str) -> None:
    clicked = page.evaluate(
        f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
        " if (!el) return false; el.scrollIntoView(); el.click(); return true; })()"
    )
    assert clicked, f"nothing on the page matches {selector}"


class TestSwaggerUi:
    def test_renders_every_operation_and_runs_one_from_the_page(
        self, server: str, operation_count: int, page: Page
    ) -> None:
        page.send("Page.navigate", url=f"{server}/docs")
        rendered = page.wait_for_script(
            f"Swagger UI to render all {operation_count} operations",
            f"document.querySelectorAll('.opblock').length >= {operation_count}",
        )
        assert rendered

        tag, operation_id = TRY_OPERATION
        block = f"#operations-{tag}-{operation_id}"
        _click(page, f"{block} .opblock-summary-control")
        page.wait_for_script(
            "the operation to open", f"!!document.querySelector('{block} .try-out__btn')"
        )
        _click(page, f"{block} .try-out__btn")
        page.wait_for_script("the Execute button", f"!!document.querySelector('{block} .execute')")
        _click(page, f"{block} .execute")
        status = page.wait_for_script(
            "the response of the request sent from the page",
            f"(document.querySelector('{block} .live-responses-table tbody .response-col_status')"
            " || {}).textContent",
        )
        body = page.evaluate(
            f"document.querySelector('{block} .live-responses-table .microlight')?.textContent"
        )
        page.evaluate(f"document.querySelector('{block}').scrollIntoView()")
        page.screenshot(ARTIFACTS / "docs.png")

        assert status.strip() == "200", f"the request from the page got {status.strip()}"
        assert "行政处罚" in (body or ""), "the response shown is not the power types list"
        assert any(url.endswith("/api/v1/power-types") for url in _requested(page))
        assert _network_problems(page) == []

    def test_loads_assets_from_this_server_only(self, server: str, page: Page) -> None:
        page.send("Page.navigate", url=f"{server}/docs")
        page.wait_for_script("Swagger UI to render", "!!document.querySelector('.opblock')")
        requested = _requested(page)
        assert any("/docs-assets/swagger-ui-bundle.js" in url for url in requested)
        assert any(url.endswith("/openapi.json") for url in requested)
        assert _network_problems(page) == []


class TestReDoc:
    def test_renders_every_operation(self, server: str, operation_count: int, page: Page) -> None:
        page.send("Page.navigate", url=f"{server}/redoc")
        page.wait_for_script(
            f"ReDoc to render all {operation_count} operations",
            "document.querySelectorAll('[data-section-id^=\"operation/\"]').length"
            f" >= {operation_count}",
        )
        page.screenshot(ARTIFACTS / "redoc.png")
        assert _network_problems(page) == []


def test_chromium_is_the_systems(page: Page) -> None:
    """The docs tests ran in Debian's chromium (make test installs it), not a downloaded one."""
    version: dict[str, Any] = page.send("Browser.getVersion")
    assert "Chrome" in version["product"] or "Chromium" in version["product"]
