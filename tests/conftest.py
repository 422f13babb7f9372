"""Fixtures: one migrated database per xdist worker, one rolled-back transaction per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.deps import get_engine, get_session
from app.db import migrations
from app.db.engine import create_engine
from app.enums import KeyScope
from app.main import create_app
from app.services import keys
from app.settings import Settings, get_settings
from tests.dbutil import drop_database, fresh_database, test_backend

# No wall-clock limits in tests: the machine is shared and noisy, so hypothesis gets no deadline.
hypothesis_settings.register_profile(
    "powercat", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.load_profile("powercat")

ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = ROOT / "seed"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Single-dialect tests run only on their database; the others are deselected, not skipped."""
    backend = {"postgresql": "postgres"}.get(test_backend(), test_backend())
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        wanted = {m.name for m in item.iter_markers() if m.name in {"postgres", "sqlite"}}
        (keep if not wanted or backend in wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    wid = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return str(wid)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """A fresh database for this worker, brought to head by the real migrations."""
    url = fresh_database(f"w{worker_id}", tmp_path_factory.mktemp("db"))
    migrations.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture
def empty_url(tmp_path: Path, worker_id: str) -> Iterator[str]:
    """A new, empty database of the run's kind, for this test alone (dropped after it)."""
    url = fresh_database(f"scratch{worker_id}", tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
def migrated_url(empty_url: str) -> str:
    """This test's own database (`empty_url`), brought to head by the real migrations."""
    migrations.upgrade(empty_url)
    return empty_url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Iterator[Settings]:
    os.environ["POWERCAT_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(settings)
    yield eng
    await eng.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        sess = AsyncSession(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield sess
        finally:
            await sess.close()
            await trans.rollback()


@pytest.fixture
def app(settings: Settings, engine: AsyncEngine, session: AsyncSession) -> Iterator[FastAPI]:
    application = create_app(settings)
    application.dependency_overrides[get_session] = lambda: session
    application.dependency_overrides[get_engine] = lambda: engine
    yield application
    application.dependency_overrides.clear()


@pytest.fixture
async def admin_token(session: AsyncSession) -> str:
    """An admin API key, created in the test's transaction."""
    _, token = await keys.create(session, name="test admin", scope=KeyScope.ADMIN, agency_names=[])
    return token


@pytest.fixture
async def anon_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no API key."""
    # raise_app_exceptions=False: a 500 reaches the test as the client would see it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def client(app: FastAPI, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends an admin key (access control has its own tests with other keys)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {admin_token}"},
    ) as c:
        yield c
