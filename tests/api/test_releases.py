"""Releases over HTTP: create (admin, refused on validation errors unless forced), read, diff."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import KeyScope
from app.services import keys
from tests.factories import MINQIN, import_file

PROBLEM = "application/problem+json"
FIRST_CODE = "11620621MB176555834620236001000"


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)  # items 4, 5 and 6 share a code: an error-severity issue


async def _forced(client: httpx.AsyncClient, name: str = "v1") -> httpx.Response:
    return await client.post(
        "/api/v1/releases", json={"name": name, "force": True, "reason": "编码重复已核实"}
    )


@pytest.mark.usefixtures("seeded")
class TestCreateRelease:
    async def test_blocked_by_validation_errors_is_409_with_counts(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post("/api/v1/releases", json={"name": "v1", "note": "首次发布"})
        assert r.status_code == 409
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["code"] == "release.blocked"
        assert body["counts"]["error"] > 0
        assert set(body["counts"]) == {"error", "warning", "info"}
        assert (await client.get("/api/v1/releases/v1")).status_code == 404

    @pytest.mark.parametrize("reason", [None, "", "  "])
    async def test_force_without_reason_is_422(
        self, client: httpx.AsyncClient, reason: str | None
    ) -> None:
        r = await client.post(
            "/api/v1/releases",
            json={"name": "v1", "force": True, "reason": reason},
            # The force reason is part of the release: a header reason only goes to the audit.
            headers={"X-Change-Reason": "header"},
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"
        assert [e["pointer"] for e in r.json()["errors"]] == ["/body/reason"]

    async def test_forced_release_is_201_with_location_and_reason(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await _forced(client)
        assert r.status_code == 201
        assert r.headers["location"] == "/api/v1/releases/v1"
        body = r.json()
        assert body["item_count"] == 9
        assert (body["is_forced"], body["force_reason"]) == (True, "编码重复已核实")
        assert (await client.get(r.headers["location"])).json() == body

    async def test_same_name_twice_is_409(self, client: httpx.AsyncClient) -> None:
        assert (await _forced(client)).status_code == 201
        r = await _forced(client)
        assert r.status_code == 409
        assert r.json()["code"] == "release.exists"

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "current", "force": True, "reason": "x"},
            {"name": "-starts-with-dash"},
            {"name": "has space"},
            {"name": "x" * 101},
            {"name": "v1", "unknown": 1},
            {"name": "v1", "note": "x" * 2001},
        ],
    )
    async def test_bad_body_is_422(
        self, client: httpx.AsyncClient, body: dict[str, object]
    ) -> None:
        r = await client.post("/api/v1/releases", json=body)
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"

    async def test_needs_an_admin_key(
        self, session: AsyncSession, anon_client: httpx.AsyncClient
    ) -> None:
        r = await anon_client.post(
            "/api/v1/releases", json={"name": "v1", "force": True, "reason": "x"}
        )
        assert r.status_code == 401
        assert r.json()["code"] == "auth.unauthorized"
        _, token = await keys.create(
            session, name="writer", scope=KeyScope.WRITE, agency_names=["民勤县医疗保障局"]
        )
        r = await anon_client.post(
            "/api/v1/releases",
            json={"name": "v1", "force": True, "reason": "x"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 403
        assert r.headers["content-type"] == PROBLEM


@pytest.mark.usefixtures("seeded")
class TestReadReleases:
    async def test_list_oldest_first_and_readable_without_a_key(
        self, client: httpx.AsyncClient, anon_client: httpx.AsyncClient
    ) -> None:
        await _forced(client, "v1")
        await _forced(client, "v2")
        r = await anon_client.get("/api/v1/releases")
        assert r.status_code == 200
        assert [x["name"] for x in r.json()] == ["v1", "v2"]

    async def test_unknown_release_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/releases/nope")
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "release.not_found"

    async def test_bad_name_in_path_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/releases/bad%20name")
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_input"


@pytest.mark.usefixtures("seeded")
class TestDiffReleases:
    async def test_diff_against_current_after_edit_and_withdrawal(
        self, client: httpx.AsyncClient
    ) -> None:
        await _forced(client)
        first = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        r = await client.patch(
            f"/api/v1/items/{first['id']}",
            json={"remarks": "发布后补充备注"},
            headers={"If-Match": '"1"'},
        )
        assert r.status_code == 200
        others = (await client.get("/api/v1/items", params={"limit": 2})).json()["items"]
        gone = next(i for i in others if i["id"] != first["id"])
        r = await client.delete(f"/api/v1/items/{gone['id']}", headers={"If-Match": '"1"'})
        assert r.status_code == 200

        r = await client.get("/api/v1/releases/v1/diff/current")
        assert r.status_code == 200
        body = r.json()
        assert (body["base"], body["target"]) == ("v1", "current")
        assert body["counts"] == {"added": 0, "changed": 1, "withdrawn": 1}
        change = body["changed"][0]
        assert (change["id"], change["from_version"], change["to_version"]) == (first["id"], 1, 2)
        assert change["changes"] == [
            {"field": "remarks", "before": None, "after": "发布后补充备注"}
        ]
        assert [w["id"] for w in body["withdrawn"]] == [gone["id"]]

        reverse = (await client.get("/api/v1/releases/current/diff/v1")).json()
        assert reverse["counts"] == {"added": 1, "changed": 1, "withdrawn": 0}

    async def test_unknown_side_is_404(self, client: httpx.AsyncClient) -> None:
        await _forced(client)
        r = await client.get("/api/v1/releases/v1/diff/nope")
        assert r.status_code == 404
        assert r.json()["code"] == "release.not_found"


@pytest.mark.usefixtures("seeded")
class TestLookupByCodeInRelease:
    NEW_CODE = "11620621MB176555834620236099000"

    async def _recode_first_item(self, client: httpx.AsyncClient) -> dict[str, object]:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        r = await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"local_code": self.NEW_CODE, "reason": "编码调整"},
            headers={"If-Match": f'"{item["version"]}"'},
        )
        assert r.status_code == 200, r.text
        return dict(item)

    async def test_finds_the_item_under_the_code_it_had_in_the_release(
        self, client: httpx.AsyncClient
    ) -> None:
        assert (await _forced(client, "v1")).status_code == 201
        before = await self._recode_first_item(client)
        pinned = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}", params={"release": "v1"})
        assert pinned.status_code == 200
        assert pinned.json()["id"] == before["id"]
        assert pinned.json()["local_code"] == FIRST_CODE
        assert pinned.json()["version"] == before["version"]
        assert pinned.headers["etag"] == f'"{before["id"]}.{before["version"]}"'
        # Now the old code names nothing, and the new code is not in the release.
        assert (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).status_code == 404
        later = await client.get(f"/api/v1/items/by-code/{self.NEW_CODE}", params={"release": "v1"})
        assert later.status_code == 404
        assert later.json()["code"] == "item.not_found"
        now = await client.get(f"/api/v1/items/by-code/{self.NEW_CODE}")
        assert now.json()["version"] == before["version"] + 1  # type: ignore[operator]

    async def test_a_code_shared_in_the_release_is_409_with_candidates(
        self, client: httpx.AsyncClient
    ) -> None:
        await _forced(client, "v1")
        r = await client.get(
            "/api/v1/items/by-code/11620621MB176555834621036001000", params={"release": "v1"}
        )
        assert r.status_code == 409
        assert r.headers["content-type"] == PROBLEM
        assert sorted(c["seq"] for c in r.json()["candidates"]) == [4, 5, 6]

    async def test_unknown_release_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}", params={"release": "nope"})
        assert r.status_code == 404
        assert r.json()["code"] == "release.not_found"
