"""API writes may keep or fix catalogue errors, never add one (issue list in the 422 problem)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import MINQIN, SHARED_CODE, import_bytes, import_file, table_counts

FREE_CODE = "11620621MB176555834621036005000"
FIRST_CODE = "11620621MB176555834620236001000"
# A 00Y main item (main number 006, free in the Minqin list) and its sub-items.
FAMILY = "11620621MB176555834621036006"
PARENT_CODE = FAMILY + "00Y"
CHILD_CODES = (FAMILY + "001", FAMILY + "002")
AGENCY = "民勤县医疗保障局"


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)


async def _item(client: httpx.AsyncClient, seq: int) -> dict[str, Any]:
    page = (await client.get("/api/v1/items", params={"limit": 100})).json()
    return dict(next(i for i in page["items"] if i["seq"] == seq))


def _listing(rows: list[tuple[int, str, str]]) -> bytes:
    """An NDJSON list of complete items of the Minqin bureau: (seq, name, code) per row."""
    return "".join(
        json.dumps(
            {
                "agency": AGENCY,
                "seq": seq,
                "name": name,
                "power_type": "其他行政权力",
                "local_code": code,
                "exercising_body": AGENCY,
                "handling_unit": "基金监管股",
                "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条",
                "responsibilities": "1.受理阶段责任：依法受理。",
                "accountability": "因不履行或不正确履行行政职责的，依法追究责任。",
            },
            ensure_ascii=False,
        )
        + "\n"
        for seq, name, code in rows
    ).encode()


async def _family(session: AsyncSession, children: int) -> None:
    """Import a 00Y parent with `children` sub-items as rows of their own.

    Imports store what a list holds; through the API neither a lone parent nor a lone child
    could be created first (each alone is a sub-item error).
    """
    rows = [(101, "医疗保障待遇审核", PARENT_CODE)]
    rows += [(102 + n, f"医疗保障待遇审核子项{n + 1}", CHILD_CODES[n]) for n in range(children)]
    report = await import_bytes(session, _listing(rows), "family.ndjson")
    assert report.counts.new == 1 + children


async def _by_code(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/items/by-code/{code}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _flagged(body: dict[str, object]) -> list[tuple[str, str | None, list[object]]]:
    issues = body["issues"]
    assert isinstance(issues, list)
    return [(i["rule"], i["value"], [x["id"] for x in i["items"]]) for i in issues]


async def _errors(client: httpx.AsyncClient) -> list[dict[str, Any]]:
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


@pytest.mark.usefixtures("seeded")
class TestWritesAffectingOtherItems:
    """The check covers every item a write can affect, not only the written one."""

    async def test_withdrawing_the_only_child_of_a_00y_parent_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await _family(session, children=1)
        parent = await _by_code(client, PARENT_CODE)
        child = await _by_code(client, CHILD_CODES[0])
        before = await table_counts(session)
        r = await client.delete(
            f"/api/v1/items/{child['id']}", headers={"If-Match": f'"{child["version"]}"'}
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "item.validation_failed"
        # The new error is the parent's, which the write did not touch.
        assert _flagged(r.json()) == [("code.sub_item", PARENT_CODE, [parent["id"]])]
        assert await table_counts(session) == before
        assert (await _by_code(client, CHILD_CODES[0]))["status"] == "active"

    async def test_withdrawing_one_of_two_children_is_allowed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await _family(session, children=2)
        child = await _by_code(client, CHILD_CODES[0])
        r = await client.delete(
            f"/api/v1/items/{child['id']}", headers={"If-Match": f'"{child["version"]}"'}
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "withdrawn"

    async def test_recoding_a_parent_so_its_children_are_orphans_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await _family(session, children=2)
        parent = await _by_code(client, PARENT_CODE)
        children = [(await _by_code(client, code))["id"] for code in CHILD_CODES]
        r = await client.patch(
            f"/api/v1/items/{parent['id']}",
            json={"local_code": FAMILY + "000", "reason": "改为无子项"},
            headers={"If-Match": f'"{parent["version"]}"'},
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "item.validation_failed"
        assert _flagged(r.json()) == [("code.sub_item", PARENT_CODE, children)]
        assert (await _by_code(client, PARENT_CODE))["version"] == parent["version"]

    async def test_withdrawing_one_of_a_duplicate_group_is_allowed(
        self, client: httpx.AsyncClient
    ) -> None:
        item5 = await _item(client, 5)
        r = await client.delete(
            f"/api/v1/items/{item5['id']}", headers={"If-Match": f'"{item5["version"]}"'}
        )
        assert r.status_code == 200, r.text
        assert [
            (e["rule"], sorted(i["seq"] for i in e["items"])) for e in await _errors(client)
        ] == [("code.duplicate", [4, 6])]

    async def test_restoring_an_item_whose_code_was_taken_meanwhile_is_422(
        self, client: httpx.AsyncClient
    ) -> None:
        item9, item8 = await _item(client, 9), await _item(client, 8)
        r = await client.delete(
            f"/api/v1/items/{item9['id']}", headers={"If-Match": f'"{item9["version"]}"'}
        )
        assert r.status_code == 200, r.text
        r = await client.patch(
            f"/api/v1/items/{item8['id']}",
            json={"local_code": item9["local_code"]},
            headers={"If-Match": f'"{item8["version"]}"'},
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            f"/api/v1/items/{item9['id']}/restore",
            headers={"If-Match": f'"{item9["version"] + 1}"'},
        )
        assert r.status_code == 422, r.text
        assert _flagged(r.json()) == [
            ("code.duplicate", item9["local_code"], sorted([item8["id"], item9["id"]]))
        ]

    async def test_creating_an_item_with_a_shared_code_is_422(
        self, client: httpx.AsyncClient
    ) -> None:
        item4 = await _item(client, 4)
        r = await client.post("/api/v1/items", json=_new_item(item4, SHARED_CODE))
        assert r.status_code == 422, r.text
        (rule, value, ids) = _flagged(r.json())[0]
        assert (rule, value, len(ids)) == ("code.duplicate", SHARED_CODE, 4)

    async def test_creating_an_item_with_a_free_code_is_allowed_beside_old_errors(
        self, client: httpx.AsyncClient
    ) -> None:
        item4 = await _item(client, 4)
        r = await client.post("/api/v1/items", json=_new_item(item4, FREE_CODE))
        assert r.status_code == 201, r.text


def _new_item(like: dict[str, object], code: str) -> dict[str, Any]:
    agency = like["agency"]
    assert isinstance(agency, dict)
    return {
        "agency_id": agency["id"],
        "name": "新增的测试事项",
        "power_type": "10",
        "local_code": code,
        "exercising_body": AGENCY,
        "handling_unit": "基金监管股",
        "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条",
        "responsibilities": "1.受理阶段责任：依法受理。",
        "accountability": "因不履行或不正确履行行政职责的，依法追究责任。",
    }
