"""API writes may keep or fix catalogue errors, never add one (issue list in the 422 problem)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import MINQIN, SHARED_CODE, import_file, table_counts

FREE_CODE = "11620621MB176555834621036005000"
FIRST_CODE = "11620621MB176555834620236001000"


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)


async def _item(client: httpx.AsyncClient, seq: int) -> dict[str, object]:
    page = (await client.get("/api/v1/items", params={"limit": 100})).json()
    return dict(next(i for i in page["items"] if i["seq"] == seq))


async def _errors(client: httpx.AsyncClient) -> list[dict[str, object]]:
    run = (await client.post("/api/v1/validation-runs")).json()
    issues = (await client.get(run["issues_url"], params={"severity": "error"})).json()
    return list(issues["items"])


@pytest.mark.usefixtures("seeded")
class TestWriteValidation:
    async def test_clerk_fixes_item_5_code_and_duplicate_disappears(
        self, client: httpx.AsyncClient
    ) -> None:
        before = await _errors(client)
        assert [(e["rule"], sorted(i["seq"] for i in e["items"])) for e in before] == [
            ("code.duplicate", [4, 5, 6])
        ]
        item5 = await _item(client, 5)
        r = await client.patch(
            f"/api/v1/items/{item5['id']}",
            json={"local_code": FREE_CODE, "reason": "更正重复编码"},
            headers={"If-Match": f'"{item5["version"]}"'},
        )
        assert r.status_code == 200, r.text
        after = await _errors(client)
        assert [(e["rule"], sorted(i["seq"] for i in e["items"])) for e in after] == [
            ("code.duplicate", [4, 6])
        ]

    async def test_write_that_adds_a_duplicate_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item2 = await _item(client, 2)
        before = await table_counts(session)
        r = await client.patch(
            f"/api/v1/items/{item2['id']}",
            json={"local_code": FIRST_CODE},
            headers={"If-Match": f'"{item2["version"]}"'},
        )
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "item.validation_failed"
        assert {i["rule"] for i in body["issues"]} == {"code.duplicate", "code.type_mismatch"}
        assert await table_counts(session) == before

    async def test_bad_check_digit_is_refused(self, client: httpx.AsyncClient) -> None:
        item2 = await _item(client, 2)
        bad = "11620621MB176555844620536001000"  # 18th character changed
        r = await client.patch(
            f"/api/v1/items/{item2['id']}",
            json={"local_code": bad},
            headers={"If-Match": f'"{item2["version"]}"'},
        )
        assert r.status_code == 422
        assert "code.check_digit" in [i["rule"] for i in r.json()["issues"]]

    async def test_item_keeping_its_existing_error_may_change_other_fields(
        self, client: httpx.AsyncClient
    ) -> None:
        item4 = await _item(client, 4)
        r = await client.patch(
            f"/api/v1/items/{item4['id']}",
            json={"remarks": "编码待更正"},
            headers={"If-Match": f'"{item4["version"]}"'},
        )
        assert r.status_code == 200
        assert r.json()["local_code"] == SHARED_CODE
