"""API keys, scopes, per-agency writes and the audit trail."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import KeyScope
from app.models import Agency, AuditEntry
from app.services import keys
from app.settings import get_settings
from tests.factories import DUNHUANG, MINQIN, import_file

PROBLEM = "application/problem+json"
FIRST_CODE = "11620621MB176555834620236001000"


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)


async def _key(session: AsyncSession, scope: KeyScope, *agencies: str) -> str:
    _, token = await keys.create(
        session, name=f"{scope} key", scope=scope, agency_names=list(agencies)
    )
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _first(client: httpx.AsyncClient) -> dict[str, object]:
    r = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")
    return dict(r.json())


async def _audit_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.mark.usefixtures("seeded")
class TestWriteAccess:
    async def test_write_without_key_is_401_with_challenge(
        self, anon_client: httpx.AsyncClient
    ) -> None:
        item = await _first(anon_client)
        r = await anon_client.patch(
            f"/api/v1/items/{item['id']}", json={"remarks": "x"}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 401
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["code"] == "auth.unauthorized"

    @pytest.mark.parametrize("header", ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer ", "pck_x"])
    async def test_bad_credentials_are_401_even_on_reads(
        self, anon_client: httpx.AsyncClient, header: str
    ) -> None:
        r = await anon_client.get("/api/v1/items", headers={"Authorization": header})
        assert r.status_code == 401
        assert r.json()["code"] == "auth.unauthorized"

    async def test_read_key_cannot_write(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.READ)
        item = await _first(anon_client)
        r = await anon_client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "x"},
            headers={"If-Match": '"1"', **_auth(token)},
        )
        assert r.status_code == 403
        assert r.json()["code"] == "auth.forbidden"

    async def test_write_key_changes_only_its_agencies(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        minqin_item = await _first(anon_client)
        denied = await anon_client.patch(
            f"/api/v1/items/{minqin_item['id']}",
            json={"remarks": "x"},
            headers={"If-Match": '"1"', **_auth(token)},
        )
        assert denied.status_code == 403
        agency = await session.scalar(select(Agency).where(Agency.name == "敦煌市医疗保障局"))
        assert agency is not None
        listing = await anon_client.get("/api/v1/items", params={"agency": agency.id, "limit": 1})
        dunhuang = listing.json()["items"][0]
        allowed = await anon_client.patch(
            f"/api/v1/items/{dunhuang['id']}",
            json={"remarks": "备注"},
            headers={"If-Match": '"1"', **_auth(token)},
        )
        assert allowed.status_code == 200

    async def test_write_key_cannot_create_in_another_agency(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        minqin = await session.scalar(select(Agency).where(Agency.name == "民勤县医疗保障局"))
        assert minqin is not None
        r = await anon_client.post(
            "/api/v1/items",
            json={
                "agency_id": minqin.id,
                "name": "新事项",
                "power_type": "02",
                "exercising_body": "民勤县医疗保障局",
                "legal_basis": "《中华人民共和国社会保险法》",
                "responsibilities": "1.立案",
                "accountability": "1.追责",
            },
            headers=_auth(token),
        )
        assert r.status_code == 403

    async def test_revoked_key_stops_at_once(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        info, token = await keys.create(
            session, name="soon gone", scope=KeyScope.ADMIN, agency_names=[]
        )
        assert (await anon_client.get("/api/v1/audit", headers=_auth(token))).status_code == 200
        await keys.revoke(session, key_id=info.id)
        r = await anon_client.get("/api/v1/audit", headers=_auth(token))
        assert r.status_code == 401

    async def test_import_needs_rights_for_the_agency(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        files = {"file": (MINQIN.name, MINQIN.read_bytes())}
        r = await anon_client.post("/api/v1/imports", files=files, headers=_auth(token))
        assert r.status_code == 403
        files = {"file": (DUNHUANG.name, DUNHUANG.read_bytes())}
        r = await anon_client.post("/api/v1/imports", files=files, headers=_auth(token))
        assert r.status_code == 200


@pytest.mark.usefixtures("seeded")
class TestAudit:
    async def test_write_records_key_reason_and_request_id(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item = await _first(client)
        r = await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "备注"},
            headers={
                "If-Match": '"1"',
                "X-Change-Reason": quote("更正备注"),
                "X-Request-ID": "req-42",
            },
        )
        assert r.status_code == 200
        entries = (await client.get("/api/v1/audit", params={"target_type": "item"})).json()
        latest = entries[0]
        assert latest["action"] == "item.update"
        assert latest["target_id"] == str(item["id"])
        assert latest["reason"] == "更正备注"
        assert latest["request_id"] == "req-42"
        assert latest["api_key_id"] is not None
        assert latest["change"]["fields"] == ["remarks"]

    async def test_failed_write_records_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item = await _first(client)
        before = await _audit_count(session)
        r = await client.patch(
            f"/api/v1/items/{item['id']}", json={"remarks": "x"}, headers={"If-Match": '"7"'}
        )
        assert r.status_code == 412
        assert await _audit_count(session) == before

    async def test_audit_is_admin_only(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        assert (await anon_client.get("/api/v1/audit")).status_code == 401
        assert (await anon_client.get("/api/v1/audit", headers=_auth(token))).status_code == 403


class TestPublicRead:
    async def test_reads_need_a_key_when_public_read_is_off(
        self,
        anon_client: httpx.AsyncClient,
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(get_settings(), "public_read", False)
        assert (await anon_client.get("/api/v1/power-types")).status_code == 401
        token = await _key(session, KeyScope.READ)
        r = await anon_client.get("/api/v1/power-types", headers=_auth(token))
        assert r.status_code == 200
        assert (await anon_client.get("/healthz")).status_code == 200


class TestLogs:
    async def test_keys_never_reach_the_logs(
        self,
        anon_client: httpx.AsyncClient,
        session: AsyncSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        import logging

        caplog.set_level(logging.DEBUG)
        token = await _key(session, KeyScope.ADMIN)
        await anon_client.get("/api/v1/audit", headers=_auth(token))
        await anon_client.get("/api/v1/audit", headers=_auth(token + "x"))
        await anon_client.patch("/api/v1/items/1", json={"x": 1}, headers=_auth(token))
        assert token not in caplog.text
        assert token[4:20] not in caplog.text
