"""API keys, scopes, per-agency writes and the audit trail."""

from __future__ import annotations

import logging
from datetime import timedelta, timezone
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import KeyScope
from app.models import Agency, AuditEntry, ValidationRun
from app.services import cursors, keys
from app.settings import get_settings
from tests.factories import DUNHUANG, MINQIN, import_file, table_counts

PROBLEM = "application/problem+json"
NEW_ITEM_CSV = (
    "agency,name,power_type_code,exercising_body,legal_basis,responsibilities,accountability\n"
    "敦煌市医疗保障局,对定点医药机构违规行为的检查,08,敦煌市医疗保障局,"
    "《医疗保障基金使用监督管理条例》第二十二条,1.检查,1.追责\n"
)
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


async def _entries(
    session: AsyncSession, *, action: str | None = None, actor_prefix: str | None = None
) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_prefix:
        stmt = stmt.where(AuditEntry.actor.startswith(actor_prefix))
    return list((await session.scalars(stmt)).all())


async def _count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _everything(session: AsyncSession) -> dict[str, int]:
    """Rows of every table a refused write could have touched."""
    return {
        **await table_counts(session),
        "agency": await _count(session, Agency),
        "validation_run": await _count(session, ValidationRun),
    }


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

    async def test_write_key_cannot_run_validation(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        before = await _everything(session)
        body: dict[str, object] | None
        for body in (None, {}):
            r = await anon_client.post("/api/v1/validation-runs", json=body, headers=_auth(token))
            assert r.status_code == 403
            assert r.headers["content-type"] == PROBLEM
            assert r.json()["code"] == "auth.forbidden"
        assert await _everything(session) == before

    async def test_write_key_cannot_import_a_new_agency(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        before = await _everything(session)
        files = {"file": (DUNHUANG.name, DUNHUANG.read_bytes())}
        r = await anon_client.post(
            "/api/v1/imports", files=files, data={"agency": "酒泉市新设局"}, headers=_auth(token)
        )
        assert r.status_code == 403
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "auth.forbidden"
        assert await _everything(session) == before
        assert await session.scalar(select(Agency).where(Agency.name == "酒泉市新设局")) is None
        # An admin key may: the refusal was about the key, not the file.
        admin = await _key(session, KeyScope.ADMIN)
        r = await anon_client.post(
            "/api/v1/imports", files=files, data={"agency": "酒泉市新设局"}, headers=_auth(admin)
        )
        assert r.status_code == 200, r.text


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

    @pytest.mark.parametrize(
        "sent",
        [
            pytest.param(quote("年度复核").encode(), id="percent-encoded"),
            pytest.param("年度复核".encode(), id="raw-utf8"),
        ],
    )
    async def test_a_chinese_reason_in_the_header_is_recorded_as_written(
        self, client: httpx.AsyncClient, sent: bytes
    ) -> None:
        item = await _first(client)
        r = await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "复核"},
            headers={b"If-Match": b'"1"', b"X-Change-Reason": sent},
        )
        assert r.status_code == 200, r.text
        revisions = (await client.get(f"/api/v1/items/{item['id']}/revisions")).json()
        assert revisions[-1]["version"] == 2
        assert revisions[-1]["reason"] == "年度复核"

    async def test_a_nul_in_the_reason_header_is_refused_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item = await _first(client)
        before = await _audit_count(session)
        r = await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "x"},
            headers={"If-Match": '"1"', "X-Change-Reason": "bad%00reason"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"pointer": "/header/x-change-reason", "message": "NUL"}]
        assert await _audit_count(session) == before

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

    async def test_reason_as_a_body_field_is_recorded(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item = await _first(client)
        r = await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "备注一", "reason": "正文中的理由"},
            headers={"If-Match": '"1"'},
        )
        assert r.status_code == 200
        # The body's reason wins over the header's.
        r = await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "备注二", "reason": "正文优先"},
            headers={"If-Match": '"2"', "X-Change-Reason": quote("请求头")},
        )
        assert r.status_code == 200
        entries = (await client.get("/api/v1/audit", params={"action": "item.update"})).json()
        assert [e["reason"] for e in entries[:2]] == ["正文优先", "正文中的理由"]
        [revision] = [
            rev
            for rev in (await client.get(f"/api/v1/items/{item['id']}/revisions")).json()
            if rev["version"] == 2
        ]
        assert revision["reason"] == "正文中的理由"

    async def test_withdrawal_and_restore_take_a_reason_in_the_body(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item = await _first(client)
        url = f"/api/v1/items/{item['id']}"
        gone = await client.request(
            "DELETE", url, json={"reason": "事项已取消"}, headers={"If-Match": '"1"'}
        )
        assert gone.status_code == 200, gone.text
        back = await client.post(
            f"{url}/restore",
            json={"reason": "误撤销"},
            headers={"If-Match": '"2"', "X-Change-Reason": quote("请求头")},
        )
        assert back.status_code == 200, back.text
        revisions = (await client.get(f"{url}/revisions")).json()
        # The body's reason wins over the header's, as for the other writes.
        assert [r["reason"] for r in revisions[1:]] == ["事项已取消", "误撤销"]
        entries = (await client.get("/api/v1/audit", params={"target_id": str(item["id"])})).json()
        assert [e["reason"] for e in entries[:2]] == ["误撤销", "事项已取消"]
        # A body with a field the operation does not know is refused, and changes nothing.
        before = await _audit_count(session)
        odd = await client.request(
            "DELETE", url, json={"reason": "x", "extra": 1}, headers={"If-Match": '"3"'}
        )
        assert odd.status_code == 422
        assert odd.json()["errors"][0]["pointer"] == "/body/extra"
        assert await _audit_count(session) == before
        # No body at all, as before.
        plain = await client.delete(url, headers={"If-Match": '"3"'})
        assert (plain.status_code, plain.json()["version"]) == (200, 4)

    async def test_import_is_audited_with_key_request_and_reason(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        info, token = await keys.create(
            session, name="importer", scope=KeyScope.WRITE, agency_names=["敦煌市医疗保障局"]
        )
        r = await anon_client.post(
            "/api/v1/imports",
            files={"file": ("new.csv", NEW_ITEM_CSV.encode())},
            headers={
                **_auth(token),
                "X-Change-Reason": quote("2026年清单更新"),
                "X-Request-ID": "import-7",
            },
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["status"] == "imported"
        [entry] = await _entries(session, action="import", actor_prefix="key:")
        assert entry.api_key_id == info.id
        assert entry.actor == f"key:{info.id}:importer"
        assert entry.request_id == "import-7"
        assert entry.reason == "2026年清单更新"
        assert entry.target_type == "import_batch"
        assert entry.target_id == str(report["batch_id"])
        assert entry.change is not None
        assert entry.change["sha256"] == report["sha256"]
        assert entry.change["counts"]["new"] == report["counts"]["new"] == 1
        assert entry.at is not None

    async def test_import_reason_as_a_form_field_wins_over_the_header(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await keys.create(
            session, name="importer", scope=KeyScope.WRITE, agency_names=["敦煌市医疗保障局"]
        )
        r = await anon_client.post(
            "/api/v1/imports",
            files={"file": ("new.csv", NEW_ITEM_CSV.encode())},
            data={"reason": "年度清单调整"},
            headers={**_auth(token), "X-Change-Reason": quote("header")},
        )
        assert r.status_code == 200, r.text
        [entry] = await _entries(session, action="import", actor_prefix="key:")
        assert entry.reason == "年度清单调整"
        found = await anon_client.get("/api/v1/items", params={"q": "对定点医药机构违规行为的检查"})
        [item] = found.json()["items"]
        revisions = await anon_client.get(f"/api/v1/items/{item['id']}/revisions")
        assert revisions.json()[0]["reason"] == "年度清单调整"

    async def test_refused_import_records_nothing(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        before = await _everything(session)
        denied = await anon_client.post(
            "/api/v1/imports",
            files={"file": (MINQIN.name, MINQIN.read_bytes().replace(b"\t", b"\t ", 3))},
            headers={**_auth(token), "X-Change-Reason": "x"},
        )
        assert denied.status_code == 403
        broken = await anon_client.post(
            "/api/v1/imports", files={"file": ("x.csv", b"name,seq\n")}, headers=_auth(token)
        )
        assert broken.status_code == 422
        assert await _everything(session) == before

    async def test_validation_run_is_audited(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        agency = await session.scalar(select(Agency).where(Agency.name == "敦煌市医疗保障局"))
        assert agency is not None
        r = await client.post(
            "/api/v1/validation-runs",
            json={"agency_id": agency.id},
            headers={"X-Change-Reason": quote("发布前检查"), "X-Request-ID": "run-1"},
        )
        assert r.status_code == 201, r.text
        run = r.json()
        [entry] = await _entries(session, action="validation_run.create")
        assert entry.target_type == "validation_run"
        assert entry.target_id == str(run["id"])
        assert entry.api_key_id is not None
        assert entry.request_id == "run-1"
        assert entry.reason == "发布前检查"
        assert entry.change == {"agency_id": agency.id, "counts": run["counts"]}

    async def test_failed_validation_run_records_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        before = await _everything(session)
        r = await client.post("/api/v1/validation-runs", json={"agency_id": 2_000_000})
        assert r.status_code == 422
        assert await _everything(session) == before

    async def test_audit_filters(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        first, first_token = await keys.create(
            session, name="first", scope=KeyScope.ADMIN, agency_names=[]
        )
        second, second_token = await keys.create(
            session, name="second", scope=KeyScope.ADMIN, agency_names=[]
        )
        item = await _first(anon_client)
        for version, token in ((1, first_token), (2, second_token)):
            r = await anon_client.patch(
                f"/api/v1/items/{item['id']}",
                json={"remarks": f"第{version}次"},
                headers={"If-Match": f'"{version}"', **_auth(token)},
            )
            assert r.status_code == 200
        r = await anon_client.post("/api/v1/validation-runs", headers=_auth(first_token))
        assert r.status_code == 201
        # Three entries, each at its own time (the audit is append-only: the times are as written).
        rows = await _entries(session, actor_prefix="key:")
        assert [e.action for e in rows] == ["item.update", "item.update", "validation_run.create"]
        times = [row.at for row in rows]
        assert times == sorted(set(times))

        async def ids(**params: str | int) -> list[int]:
            r = await anon_client.get("/api/v1/audit", params=params, headers=_auth(first_token))
            assert r.status_code == 200, r.text
            return [e["id"] for e in r.json() if e["actor"].startswith("key:")]

        a, b, c = (row.id for row in rows)
        assert await ids() == [c, b, a]
        assert await ids(key_id=first.id) == [c, a]
        assert await ids(key_id=second.id) == [b]
        assert await ids(actor=f"key:{second.id}:second") == [b]
        assert await ids(action="item.update") == [b, a]
        assert await ids(target_type="validation_run") == [c]
        assert await ids(target_id=str(item["id"]), target_type="item") == [b, a]
        assert await ids(action="item.update", key_id=first.id) == [a]
        second_at = times[1].isoformat()
        assert await ids(since=second_at) == [c, b]
        assert await ids(until=second_at) == [a]
        assert await ids(since=times[0].isoformat(), until=second_at) == [a]
        in_beijing = times[1].astimezone(timezone(timedelta(hours=8))).isoformat()
        assert await ids(since=in_beijing) == [c, b]  # the same instant, written at +08:00
        assert await ids(limit=1) == [c]
        assert await ids(key_id=999_999) == []
        bad = await anon_client.get(
            "/api/v1/audit", params={"since": "yesterday"}, headers=_auth(first_token)
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_input"

    async def test_audit_pages_follow_the_next_link(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await keys.create(session, name="pager", scope=KeyScope.ADMIN, agency_names=[])
        item = await _first(anon_client)
        for version in (1, 2, 3):
            r = await anon_client.patch(
                f"/api/v1/items/{item['id']}",
                json={"remarks": f"第{version}次"},
                headers={"If-Match": f'"{version}"', **_auth(token)},
            )
            assert r.status_code == 200
        params = {"action": "item.update"}
        whole = await anon_client.get("/api/v1/audit", params=params, headers=_auth(token))
        assert "link" not in whole.headers  # one page holds them all
        expected = [e["id"] for e in whole.json()]
        assert len(expected) == 3

        seen: list[int] = []
        url: str | None = "/api/v1/audit?action=item.update&limit=1"
        while url is not None:
            r = await anon_client.get(url, headers=_auth(token))
            assert r.status_code == 200, r.text
            seen += [e["id"] for e in r.json()]
            link = r.headers.get("link")
            url = None
            if link is not None:
                assert link.endswith('>; rel="next"')
                url = link[1 : link.index(">")]
                assert "action=item.update" in url  # the filters are kept
                assert "limit=1" in url
        assert seen == expected  # newest first, none repeated or skipped

        for bad in ("abc", _cursor_of_another_listing()):
            r = await anon_client.get("/api/v1/audit", params={"cursor": bad}, headers=_auth(token))
            assert r.status_code == 400, r.text
            assert r.json()["code"] == "cursor.invalid"

    async def test_audit_is_admin_only(
        self, anon_client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        token = await _key(session, KeyScope.WRITE, "敦煌市医疗保障局")
        assert (await anon_client.get("/api/v1/audit")).status_code == 401
        assert (await anon_client.get("/api/v1/audit", headers=_auth(token))).status_code == 403


def _cursor_of_another_listing() -> str:
    """A well-signed cursor made for the change feed, not for the audit trail."""
    return cursors.encode([1], kind="changes", secret=get_settings().cursor_secret)


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
        caplog.set_level(logging.DEBUG)
        token = await _key(session, KeyScope.ADMIN)
        await anon_client.get("/api/v1/audit", headers=_auth(token))
        await anon_client.get("/api/v1/audit", headers=_auth(token + "x"))
        await anon_client.patch("/api/v1/items/1", json={"x": 1}, headers=_auth(token))
        assert token not in caplog.text
        assert token[4:20] not in caplog.text

    async def test_unhandled_error_logs_its_traceback_and_answers_a_generic_500(
        self,
        app: FastAPI,
        anon_client: httpx.AsyncClient,
        session: AsyncSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        token = await _key(session, KeyScope.ADMIN)

        @app.post("/api/v1/_probe/boom")
        async def boom(request: Request) -> None:
            # A careless message quoting the header: the log must still not hold the key.
            auth = request.headers["authorization"]
            raise RuntimeError(f"deep inside /srv/powercat/app.py with {auth}")

        r = await anon_client.post(
            "/api/v1/_probe/boom", headers={**_auth(token), "X-Request-ID": "boom-1"}
        )
        assert r.status_code == 500
        assert r.headers["content-type"] == PROBLEM
        assert r.json() == {
            "type": "urn:problem-type:powercat:internal_error",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "an unexpected error occurred",
            "code": "internal_error",
        }
        assert r.headers["x-request-id"] == "boom-1"
        assert r.headers["x-content-type-options"] == "nosniff"
        for leak in ("Traceback", "RuntimeError", "deep inside", "/srv/powercat", token):
            assert leak not in r.text
        [record] = [rec for rec in caplog.records if rec.name == "powercat.api"]
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
        assert record.exc_info[0] is RuntimeError
        assert "Traceback (most recent call last)" in caplog.text
        assert "in boom" in caplog.text
        assert "deep inside /srv/powercat/app.py with Bearer pck_[redacted]" in caplog.text
        assert token not in caplog.text
        assert token[4:20] not in caplog.text
