"""Items over HTTP: lookups, If-Match writes, revisions, diffs and the change feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import MINQIN, SHARED_CODE, import_file, table_counts

PROBLEM = "application/problem+json"
FIRST_CODE = "11620621MB176555834620236001000"


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)


def new_item(agency_id: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "agency_id": agency_id,
        "seq": 10,
        "name": "对违反医疗保障基金使用规定行为的处罚",
        "power_type": "02",
        "local_code": "11620621MB176555834620236002000",
        "exercising_body": "民勤县医疗保障局",
        "legal_basis": "《医疗保障基金使用监督管理条例》第三十八条",
        "responsibilities": "1.立案阶段责任",
        "accountability": "1.没有法律依据实施处罚的",
        "reason": "新增事项",
    }
    body.update(overrides)
    return body


async def _agency_id(client: httpx.AsyncClient) -> int:
    agencies = (await client.get("/api/v1/agencies")).json()
    return int(next(a["id"] for a in agencies if a["name"] == "民勤县医疗保障局"))


@pytest.mark.usefixtures("seeded")
class TestReads:
    async def test_by_code_returns_the_item_with_etag(self, client: httpx.AsyncClient) -> None:
        r = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")
        assert r.status_code == 200
        body = r.json()
        assert body["local_code"] == FIRST_CODE
        assert body["power_type"] == {"code": "02", "label": "行政处罚", "raw": "行政处罚"}
        assert body["agency"]["division_code"] == "620621"
        assert r.headers["etag"] == f'"{body["id"]}.{body["version"]}"'
        assert body["source"]["file"] == MINQIN.name

    async def test_ambiguous_code_is_409_with_every_candidate(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get(f"/api/v1/items/by-code/{SHARED_CODE}")
        assert r.status_code == 409
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["code"] == "item.ambiguous_code"
        assert [c["seq"] for c in body["candidates"]] == [4, 5, 6]

    async def test_unknown_code_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/items/by-code/11620621MB176555834620236099000")
        assert r.status_code == 404
        assert r.json()["code"] == "item.not_found"

    async def test_a_code_in_lower_case_finds_the_same_item(
        self, client: httpx.AsyncClient
    ) -> None:
        upper = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")
        lower = await client.get(f"/api/v1/items/by-code/{FIRST_CODE.lower()}")
        assert lower.status_code == 200
        assert lower.content == upper.content
        assert lower.headers["etag"] == upper.headers["etag"]
        listed = await client.get("/api/v1/items", params={"local_code": FIRST_CODE.lower()})
        assert [item["id"] for item in listed.json()["items"]] == [upper.json()["id"]]

    async def test_malformed_code_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/items/by-code/not-a-code-at-all-not-a-code-xx")
        assert r.status_code == 422

    async def test_if_none_match_gives_304(self, client: httpx.AsyncClient) -> None:
        first = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")
        item_id = first.json()["id"]
        r = await client.get(f"/api/v1/items/{item_id}", headers={"If-None-Match": '"1"'})
        assert r.status_code == 304
        assert r.headers["etag"] == '"1"'
        r = await client.get(f"/api/v1/items/{item_id}", headers={"If-None-Match": '"9"'})
        assert r.status_code == 200

    async def test_by_code_if_none_match_needs_the_by_code_etag(
        self, client: httpx.AsyncClient
    ) -> None:
        url = f"/api/v1/items/by-code/{FIRST_CODE}"
        first = await client.get(url)
        etag = first.headers["etag"]
        again = await client.get(url, headers={"If-None-Match": etag})
        assert (again.status_code, again.headers["etag"], again.content) == (304, etag, b"")
        weak = await client.get(url, headers={"If-None-Match": f'"x", W/{etag}'})
        assert weak.status_code == 304
        # The bare version may be another item's: it never makes a by-code lookup a 304.
        bare = await client.get(url, headers={"If-None-Match": '"1"'})
        assert (bare.status_code, bare.json()) == (200, first.json())

    async def test_the_item_url_takes_the_by_code_etag_too(self, client: httpx.AsyncClient) -> None:
        first = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")
        item_id = first.json()["id"]
        url = f"/api/v1/items/{item_id}"
        r = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert (r.status_code, r.headers["etag"]) == (304, '"1"')
        other = await client.get(url, headers={"If-None-Match": f'"{item_id + 1}.1"'})
        assert other.status_code == 200

    async def test_list_pages_with_cursor_cover_everything_once(
        self, client: httpx.AsyncClient
    ) -> None:
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 4}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/api/v1/items", params=params)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 9
        assert seen == sorted(set(seen))

    async def test_link_headers_walk_the_pages_with_the_filters_kept(
        self, client: httpx.AsyncClient
    ) -> None:
        by_cursor: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, "status": "active"}
            if cursor is not None:
                params["cursor"] = cursor
            page = (await client.get("/api/v1/items", params=params)).json()
            by_cursor += [i["id"] for i in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        by_link: list[int] = []
        r = await client.get("/api/v1/items", params={"limit": 2, "status": "active"})
        while True:
            by_link += [i["id"] for i in r.json()["items"]]
            if "next" not in r.links:
                assert r.json()["next_cursor"] is None
                break
            url = r.links["next"]["url"]
            assert url.startswith("/api/v1/items?")
            assert "status=active" in url
            assert "limit=2" in url
            r = await client.get(url)
        assert by_link == by_cursor
        assert len(by_link) > 2

    async def test_cursor_pages_stay_stable_while_items_are_added(
        self, client: httpx.AsyncClient
    ) -> None:
        first = (await client.get("/api/v1/items", params={"limit": 4})).json()
        made = await client.post("/api/v1/items", json=new_item(await _agency_id(client)))
        assert made.status_code == 201, made.text
        seen = [i["id"] for i in first["items"]]
        cursor = first["next_cursor"]
        while cursor:
            page = (await client.get("/api/v1/items", params={"limit": 4, "cursor": cursor})).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
        # Nothing is repeated or skipped: the nine seed items once each, then the new one.
        assert len(seen) == 10
        assert seen == sorted(set(seen))
        assert seen[-1] == made.json()["id"]

    async def test_list_filters(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/items", params={"power_type": "10"})
        assert [i["seq"] for i in r.json()["items"]] == [4, 5, 6, 7, 8, 9]
        r = await client.get("/api/v1/items", params={"local_code": SHARED_CODE})
        assert len(r.json()["items"]) == 3

    @pytest.mark.parametrize("q", [None, "医疗保障基金", "不在任何事项里的词"])
    async def test_an_unknown_agency_is_a_404_not_an_empty_page(
        self, client: httpx.AsyncClient, q: str | None
    ) -> None:
        # An empty page would read as "this agency has no such items": a client syncing a
        # mistyped agency id would conclude it had none, and keep concluding it.
        params: dict[str, str | int] = {"agency": 999_999, **({"q": q} if q else {})}
        r = await client.get("/api/v1/items", params=params)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "agency.not_found"
        assert r.json()["detail"] == "agency 999999 does not exist"

    async def test_an_agency_without_matching_items_is_an_empty_page(
        self, client: httpx.AsyncClient
    ) -> None:
        minqin = await _agency_id(client)
        for params in ({"status": "withdrawn"}, {"q": "不在任何事项里的词"}):
            r = await client.get("/api/v1/items", params={"agency": minqin, **params})
            assert r.status_code == 200, r.text
            assert r.json() == {"items": [], "next_cursor": None}
        r = await client.get("/api/v1/items", params={"agency": minqin})
        assert len(r.json()["items"]) == 9

    @pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "A" * 100])
    async def test_tampered_cursor_is_400(self, client: httpx.AsyncClient, cursor: str) -> None:
        r = await client.get("/api/v1/items", params={"cursor": cursor})
        assert r.status_code == 400
        assert r.json()["code"] == "cursor.invalid"

    async def test_limit_over_1000_is_422(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/v1/items", params={"limit": 1001})).status_code == 422

    async def test_reference_data(self, client: httpx.AsyncClient) -> None:
        types = (await client.get("/api/v1/power-types")).json()
        assert {"02", "06", "10", "20"} <= {t["code"] for t in types}
        agencies = (await client.get("/api/v1/agencies")).json()
        minqin = next(a for a in agencies if a["name"] == "民勤县医疗保障局")
        assert minqin["item_count"] == 9


@pytest.mark.usefixtures("seeded")
class TestWrites:
    async def test_create_returns_201_location_and_etag(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/v1/items", json=new_item(await _agency_id(client)))
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["location"] == f"/api/v1/items/{body['id']}"
        assert r.headers["etag"] == '"1"'
        assert body["version"] == 1
        # One instant: a created_at after updated_at would let updated_since skip the new item.
        assert body["created_at"] == body["updated_at"]
        assert body["source"] is None
        assert body["legal_citations"] == [
            {"law": "医疗保障基金使用监督管理条例", "articles": ["第三十八条"]}
        ]

    async def test_by_code_etag_survives_a_code_passing_to_another_item(
        self, client: httpx.AsyncClient
    ) -> None:
        url = f"/api/v1/items/by-code/{FIRST_CODE}"
        cached = await client.get(url)
        old = cached.json()
        moved = await client.patch(
            f"/api/v1/items/{old['id']}",
            json={"local_code": "11620621MB176555834620236002000"},
            headers={"If-Match": '"1"'},
        )
        assert moved.status_code == 200, moved.text
        created = await client.post(
            "/api/v1/items", json=new_item(await _agency_id(client), local_code=FIRST_CODE)
        )
        assert created.status_code == 201, created.text
        # The code now names another item, also at version 1: the cached copy is not current.
        r = await client.get(url, headers={"If-None-Match": cached.headers["etag"]})
        assert r.status_code == 200
        assert r.json()["id"] == created.json()["id"] != old["id"]
        assert r.headers["etag"] == f'"{created.json()["id"]}.1"'

    async def test_writes_take_the_by_code_etag_as_if_match(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        found = await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")
        item_id = found.json()["id"]
        before = await table_counts(session)
        foreign = await client.patch(
            f"/api/v1/items/{item_id}",
            json={"remarks": "x"},
            headers={"If-Match": f'"{item_id + 1}.1"'},
        )
        assert foreign.status_code == 412
        assert foreign.json()["current_etag"] == '"1"'
        # Not "not 0": no version 0 was asked for, only tags naming none of this item's.
        assert foreign.json()["detail"] == "the item is at version 1, which If-Match does not name"
        assert await table_counts(session) == before
        ok = await client.patch(
            f"/api/v1/items/{item_id}",
            json={"remarks": "x"},
            headers={"If-Match": found.headers["etag"]},
        )
        assert (ok.status_code, ok.headers["etag"]) == (200, '"2"')

    async def test_any_tag_of_an_if_match_list_may_name_the_current_version(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item_id = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()["id"]
        url = f"/api/v1/items/{item_id}"
        before = await table_counts(session)
        stale = await client.patch(url, json={"remarks": "x"}, headers={"If-Match": '"7", "9"'})
        assert stale.status_code == 412
        assert stale.json()["detail"] == "the item is at version 1, not 7 or 9"
        assert await table_counts(session) == before
        # The current version last in the list, beside a weak tag and another item's.
        tags = f'"7", W/"1", "{item_id + 1}.1", "1"'
        ok = await client.patch(url, json={"remarks": "x"}, headers={"If-Match": tags})
        assert (ok.status_code, ok.headers["etag"]) == (200, '"2"')
        gone = await client.delete(url, headers={"If-Match": f'"{item_id}.2", "5"'})
        assert (gone.status_code, gone.json()["status"]) == (200, "withdrawn")

    async def test_unknown_fields_are_refused(self, client: httpx.AsyncClient) -> None:
        body = new_item(await _agency_id(client), colour="red")
        r = await client.post("/api/v1/items", json=body)
        assert r.status_code == 422
        assert r.json()["errors"][0]["pointer"] == "/body/colour"

    async def test_patch_without_if_match_is_428(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        before = await table_counts(session)
        r = await client.patch(f"/api/v1/items/{item['id']}", json={"handling_unit": "稽核股"})
        assert r.status_code == 428
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "precondition_required"
        assert await table_counts(session) == before

    async def test_patch_with_stale_if_match_is_412_with_current_etag(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        ok = await client.patch(url, json={"handling_unit": "稽核股"}, headers={"If-Match": '"1"'})
        assert ok.status_code == 200
        assert ok.headers["etag"] == '"2"'
        stale = await client.patch(url, json={"remarks": "x"}, headers={"If-Match": '"1"'})
        assert stale.status_code == 412
        assert stale.json()["code"] == "item.version_mismatch"
        assert stale.json()["current_etag"] == '"2"'
        assert stale.json()["detail"] == "the item is at version 2, not 1"

    async def test_withdraw_and_restore_with_stale_if_match_are_412_and_change_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        ok = await client.patch(url, json={"remarks": "x"}, headers={"If-Match": '"1"'})
        assert ok.status_code == 200
        stale = await client.delete(url, headers={"If-Match": '"1"'})
        assert stale.status_code == 412
        assert stale.json()["code"] == "item.version_mismatch"
        assert stale.json()["current_etag"] == '"2"'
        assert (await client.get(url)).json()["status"] == "active"

        gone = await client.delete(url, headers={"If-Match": '"2"'})
        assert gone.status_code == 200
        stale = await client.post(f"{url}/restore", headers={"If-Match": '"2"'})
        assert stale.status_code == 412
        assert stale.json()["current_etag"] == '"3"'
        now = (await client.get(url)).json()
        assert (now["status"], now["version"]) == ("withdrawn", 3)

    async def test_patch_changes_only_given_fields_and_null_clears(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        r = await client.patch(
            url,
            json={"handling_unit": None, "reason": "机构调整"},
            headers={"If-Match": '"1"'},
        )
        body = r.json()
        assert body["handling_unit"] is None
        assert body["name"] == item["name"]
        assert body["legal_basis"] == item["legal_basis"]

    async def test_required_field_cannot_be_nulled(self, client: httpx.AsyncClient) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        r = await client.patch(
            f"/api/v1/items/{item['id']}", json={"name": None}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["pointer"] == "/body/name"

    async def test_delete_withdraws_and_restore_brings_back(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        assert (await client.delete(url)).status_code == 428
        gone = await client.delete(url, headers={"If-Match": '"1"'})
        assert gone.status_code == 200
        assert gone.json()["status"] == "withdrawn"
        assert (await client.get(url)).json()["status"] == "withdrawn"
        back = await client.post(f"{url}/restore", headers={"If-Match": '"2"'})
        assert back.json()["status"] == "active"
        assert back.json()["version"] == 3

    async def test_revisions_and_diff(self, client: httpx.AsyncClient) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        await client.patch(
            url,
            json={"handling_unit": "稽核股"},
            headers={"If-Match": '"1"', "X-Change-Reason": quote("机构调整")},
        )
        revs = (await client.get(f"{url}/revisions")).json()
        assert [(r["version"], r["kind"]) for r in revs] == [(1, "create"), (2, "update")]
        assert revs[1]["reason"] == "机构调整"
        assert revs[1]["changed_fields"] == ["handling_unit"]
        assert revs[0]["item"]["handling_unit"] == "基金监管股"
        one = (await client.get(f"{url}/revisions/1")).json()
        assert one["item"]["handling_unit"] == "基金监管股"
        assert (await client.get(f"{url}/revisions/9")).status_code == 404
        diff = (await client.get(f"{url}/diff", params={"from": 1, "to": 2})).json()
        assert diff["changes"] == [
            {"field": "handling_unit", "before": "基金监管股", "after": "稽核股"}
        ]

    async def test_changed_fields_are_named_as_the_item_json_names_them(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        changed = await client.patch(
            url, json={"power_type_raw": "行政处罚（罚款）"}, headers={"If-Match": '"1"'}
        )
        assert changed.status_code == 200, changed.text
        created, updated = (await client.get(f"{url}/revisions")).json()
        assert updated["changed_fields"] == ["power_type"]
        # The audit trail names them alike.
        audited = await client.get(
            "/api/v1/audit", params={"action": "item.update", "target_id": str(item["id"])}
        )
        assert [e["change"] for e in audited.json()] == [{"version": 2, "fields": ["power_type"]}]
        # An import's first revision changed every field: each one an Item shows.
        assert set(created["changed_fields"]) <= set(item)
        assert {"agency", "power_type", "source", "name"} <= set(created["changed_fields"])

    async def test_diff_between_versions_further_apart_and_revision_times(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        url = f"/api/v1/items/{item['id']}"
        for version, change in enumerate(
            [{"handling_unit": "稽核股"}, {"remarks": "复核"}, {"handling_unit": "基金监管股"}],
            start=1,
        ):
            r = await client.patch(url, json=change, headers={"If-Match": f'"{version}"'})
            assert r.status_code == 200, r.text
        revs = (await client.get(f"{url}/revisions")).json()
        assert [r["version"] for r in revs] == [1, 2, 3, 4]
        times = [datetime.fromisoformat(r["changed_at"]) for r in revs]
        assert all(t.tzinfo is not None for t in times)
        assert times == sorted(times)
        # 1 → 4: the handling unit went away and came back, so only the remark differs.
        diff = (await client.get(f"{url}/diff", params={"from": 1, "to": 4})).json()
        assert diff["changes"] == [{"field": "remarks", "before": None, "after": "复核"}]
        diff = (await client.get(f"{url}/diff", params={"from": 2, "to": 4})).json()
        assert {c["field"] for c in diff["changes"]} == {"handling_unit", "remarks"}


@pytest.mark.usefixtures("seeded")
class TestChangeFeed:
    async def test_feed_lists_every_change_in_order_and_resumes(
        self, client: httpx.AsyncClient
    ) -> None:
        page = (await client.get("/api/v1/changes", params={"limit": 5})).json()
        assert [c["kind"] for c in page["changes"]] == ["create"] * 5
        rest = (await client.get("/api/v1/changes", params={"after": page["next_cursor"]})).json()
        assert len(rest["changes"]) == 4
        item = page["changes"][0]["item"]
        await client.patch(
            f"/api/v1/items/{item['id']}", json={"remarks": "备注"}, headers={"If-Match": '"1"'}
        )
        news = (await client.get("/api/v1/changes", params={"after": rest["next_cursor"]})).json()
        assert [(c["kind"], c["item_id"], c["version"]) for c in news["changes"]] == [
            ("update", item["id"], 2)
        ]
        assert news["changes"][0]["item"]["remarks"] == "备注"
        idle = (await client.get("/api/v1/changes", params={"after": news["next_cursor"]})).json()
        assert idle["changes"] == []
        assert idle["next_cursor"] == news["next_cursor"]

    async def test_link_header_names_the_next_page_while_more_is_ready(
        self, client: httpx.AsyncClient
    ) -> None:
        first = await client.get("/api/v1/changes", params={"limit": 5})
        assert first.json()["has_more"] is True
        nxt = first.links["next"]["url"]
        assert nxt.startswith("/api/v1/changes?")
        by_cursor = await client.get(
            "/api/v1/changes", params={"limit": 5, "after": first.json()["next_cursor"]}
        )
        last = await client.get(nxt)
        assert last.json() == by_cursor.json()
        assert len(last.json()["changes"]) == 4
        assert last.json()["has_more"] is False
        assert "link" not in last.headers

    async def test_withdrawal_and_restore_reach_the_feed(self, client: httpx.AsyncClient) -> None:
        start = (await client.get("/api/v1/changes", params={"limit": 1000})).json()["next_cursor"]
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        gone = await client.delete(f"/api/v1/items/{item['id']}", headers={"If-Match": '"1"'})
        assert gone.status_code == 200, gone.text
        back = await client.post(f"/api/v1/items/{item['id']}/restore", headers={"If-Match": '"2"'})
        assert back.status_code == 200, back.text
        news = (await client.get("/api/v1/changes", params={"after": start})).json()
        assert [(c["kind"], c["item_id"], c["version"]) for c in news["changes"]] == [
            ("withdraw", item["id"], 2),
            ("restore", item["id"], 3),
        ]
        assert [c["item"]["status"] for c in news["changes"]] == ["withdrawn", "active"]
        assert news["changes"][0]["item"]["agency"] == item["agency"]


@pytest.mark.usefixtures("seeded")
class TestPinnedLookup:
    async def test_item_lookup_pinned_to_a_release_shows_the_released_version(
        self, client: httpx.AsyncClient
    ) -> None:
        item = (await client.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
        made = await client.post(
            "/api/v1/releases", json={"name": "r1", "force": True, "reason": "seed has a duplicate"}
        )
        assert made.status_code == 201, made.text
        await client.patch(
            f"/api/v1/items/{item['id']}",
            json={"remarks": "发布后修改"},
            headers={"If-Match": '"1"'},
        )
        now = (await client.get(f"/api/v1/items/{item['id']}")).json()
        pinned = await client.get(f"/api/v1/items/{item['id']}", params={"release": "r1"})
        assert now["version"] == 2
        assert pinned.status_code == 200
        assert pinned.json()["version"] == 1
        assert pinned.json()["remarks"] is None
        missing = await client.get(f"/api/v1/items/{item['id']}", params={"release": "nope"})
        assert missing.status_code == 404
