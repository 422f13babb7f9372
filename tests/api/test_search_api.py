"""GET /items?q=: exactly the items containing the term, name matches first, paged by cursor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import DUNHUANG, MINQIN, import_file

FIELDS = ("name", "legal_basis", "responsibilities", "accountability", "remarks")


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)


async def _all(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 7, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/items", params=query)).json()
        out += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


@pytest.mark.usefixtures("seeded")
class TestSearchEndpoint:
    @pytest.mark.parametrize("term", ["医", "医保", "骗取", "医疗保障基金", "处罚", "第八十七条"])
    async def test_pages_equal_a_substring_scan_with_name_matches_first(
        self, client: httpx.AsyncClient, term: str
    ) -> None:
        everything = await _all(client)
        expected = [i for i in everything if any(term in (i[f] or "") for f in FIELDS)]
        found = await _all(client, q=term)
        assert sorted(i["id"] for i in found) == sorted(i["id"] for i in expected)
        in_name = [term in i["name"] for i in found]
        assert in_name == sorted(in_name, reverse=True), "name matches come first"

    @pytest.mark.parametrize(
        ("q", "words"),
        [
            ("医保 基金", ["医保", "基金"]),
            ("骗取 处罚", ["骗取", "处罚"]),
            ("  处罚\u3000医疗 ", ["处罚", "医疗"]),  # a full-width space parts words too
            ("基金 医疗保障基金", ["医疗保障基金"]),  # a word inside another adds nothing
        ],
    )
    async def test_several_words_find_the_items_holding_every_word(
        self, client: httpx.AsyncClient, q: str, words: list[str]
    ) -> None:
        everything = await _all(client)
        expected = [
            i for i in everything if all(any(w in (i[f] or "") for f in FIELDS) for w in words)
        ]
        assert expected, "the seeds hold items with every word"
        found = await _all(client, q=q)
        assert sorted(i["id"] for i in found) == sorted(i["id"] for i in expected)
        # Name matches of the longest word first.
        lead = max(words, key=len)
        in_name = [lead in i["name"] for i in found]
        assert in_name == sorted(in_name, reverse=True)

    async def test_search_cursor_cannot_page_another_search(
        self, client: httpx.AsyncClient
    ) -> None:
        page = (await client.get("/api/v1/items", params={"q": "医", "limit": 2})).json()
        r = await client.get(
            "/api/v1/items", params={"q": "保", "limit": 2, "cursor": page["next_cursor"]}
        )
        assert r.status_code == 400
        assert r.json()["code"] == "cursor.invalid"

    async def test_wildcards_are_literal(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/v1/items", params={"q": "%"})).json()["items"] == []
        assert (await client.get("/api/v1/items", params={"q": "_"})).json()["items"] == []
