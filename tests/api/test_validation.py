"""Validation over HTTP: rules, stored runs, issue listing with filters, cursors and problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ItemStatus
from app.models import Agency, Item
from app.schemas.validation import ValidationRuleRead
from app.services.validation import docs, rules
from tests.factories import DUNHUANG, MINQIN, SHARED_CODE, import_file

VALIDATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "validation.md"

PROBLEM = "application/problem+json"
ISSUES = "/api/v1/validation/issues"
RUNS = "/api/v1/validation-runs"
SEED_COUNTS = {"error": 1, "warning": 56, "info": 4}


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    await import_file(session, MINQIN)
    await import_file(session, DUNHUANG)


async def _agency_id(session: AsyncSession, name: str) -> int:
    found = await session.scalar(select(Agency.id).where(Agency.name == name))
    assert found is not None
    return found


async def _item(session: AsyncSession, agency: str, seq: int) -> Item:
    stmt = (
        select(Item)
        .join(Agency, Agency.id == Item.agency_id)
        .where(Agency.name == agency, Item.seq == seq)
    )
    found = await session.scalar(stmt)
    assert found is not None
    return found


async def _run(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await client.post(RUNS, json=body) if body is not None else await client.post(RUNS)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _all_pages(client: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.get(ISSUES, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


class TestRules:
    async def test_every_rule_with_explanation_and_fix(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/validation/rules")
        assert r.status_code == 200
        body = r.json()
        ids = [rule["id"] for rule in body]
        assert {
            "code.shape",
            "code.check_digit",
            "code.duplicate",
            "code.type_mismatch",
            "code.level_mismatch",
            "code.division_mismatch",
            "code.region_mismatch",
            "code.department",
            "code.sub_item",
            "code.main_number_repeated",
            "item.missing_field",
            "item.missing_code",
            "item.missing_level_or_handling_unit",
            "item.name_code_inconsistent",
            "type.nonstandard_label",
        } == set(ids)
        assert {rule["check"] for rule in body if rule["check"]} == set(range(1, 14))
        assert all(rule["explanation"] and rule["fix"] and rule["fields"] for rule in body)
        severities = {rule["id"]: rule["severity"] for rule in body}
        assert severities["code.duplicate"] == "error"
        assert severities["item.missing_code"] == "warning"
        assert severities["type.nonstandard_label"] == "info"


class TestRulesDoc:
    """docs/validation.md says of every rule what GET /api/v1/validation/rules says."""

    @pytest.fixture
    async def api_rules(self, client: httpx.AsyncClient) -> list[ValidationRuleRead]:
        r = await client.get("/api/v1/validation/rules")
        assert r.status_code == 200
        return [ValidationRuleRead.model_validate(rule) for rule in r.json()]

    async def test_generated_section_equals_the_registry(
        self, api_rules: list[ValidationRuleRead]
    ) -> None:
        section = docs.section(VALIDATION_DOC.read_text(encoding="utf-8"))
        assert section == docs.render(api_rules), "run: powercat rules-doc"

    async def test_every_rule_has_id_severity_explanation_and_fix(
        self, api_rules: list[ValidationRuleRead]
    ) -> None:
        parts = docs.section(VALIDATION_DOC.read_text(encoding="utf-8")).split("\n### ")[1:]
        assert len(parts) == len(api_rules) == len(rules.RULES)
        for part, rule in zip(parts, api_rules, strict=True):
            assert part.startswith(f"`{rule.id}` {rule.title}\n")
            assert f"- severity: **{rule.severity}**" in part
            assert f"- explanation (说明): {rule.explanation}" in part
            assert f"- how to fix (修正): {rule.fix}" in part

    async def test_table_of_what_each_rule_computes_agrees_with_the_registry(
        self, api_rules: list[ValidationRuleRead]
    ) -> None:
        text = VALIDATION_DOC.read_text(encoding="utf-8")
        table = text[text.index("## What each rule computes") :]
        table = table[: table.index("\n## ")]
        rows = [
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in table.splitlines()
            if line.startswith("| `")
        ]
        assert [(r[0].strip("`"), r[1], r[2]) for r in rows] == [
            (rule.id, str(rule.check) if rule.check is not None else "–", rule.severity)
            for rule in api_rules
        ]


@pytest.mark.usefixtures("seeded")
class TestRuns:
    async def test_create_returns_counts_location_and_issues_url(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post(RUNS)
        assert r.status_code == 201
        body = r.json()
        assert body["counts"] == SEED_COUNTS
        assert body["issues_url"] == f"{ISSUES}?run_id={body['id']}"
        assert r.headers["location"] == f"{RUNS}/{body['id']}"
        issues = await client.get(body["issues_url"])
        assert issues.status_code == 200
        assert len(issues.json()["items"]) == 61

    async def test_scoped_run_counts_only_that_agency(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        minqin = await _agency_id(session, "民勤县医疗保障局")
        body = await _run(client, {"agency_id": minqin})
        assert body["counts"] == {"error": 1, "warning": 0, "info": 0}
        run = (await client.get(f"{RUNS}/{body['id']}")).json()
        assert run["agency"] == {"id": minqin, "name": "民勤县医疗保障局"}

    async def test_get_run_compares_with_the_previous_run(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        first = await _run(client)
        r = await client.get(f"{RUNS}/{first['id']}")
        assert r.status_code == 200
        first_run = r.json()
        assert first_run["previous_run_id"] is None
        assert len(first_run["new_fingerprints"]) == 61
        assert first_run["fixed_fingerprints"] == []
        dup = (await client.get(ISSUES, params={"rule": "code.duplicate"})).json()["items"][0]

        # Withdrawing item 6 turns the three-item duplicate into a two-item one.
        item6 = await _item(session, "民勤县医疗保障局", 6)
        item6.status = ItemStatus.WITHDRAWN
        await session.flush()
        second = await _run(client)
        run = (await client.get(f"{RUNS}/{second['id']}")).json()
        assert run["previous_run_id"] == first["id"]
        assert run["fixed_fingerprints"] == [dup["fingerprint"]]
        assert len(run["new_fingerprints"]) == 1
        new_dup = (await client.get(ISSUES, params={"rule": "code.duplicate"})).json()["items"]
        assert [i["seq"] for i in new_dup[0]["items"]] == [4, 5]
        assert new_dup[0]["first_seen_run_id"] == second["id"]
        unchanged = (await client.get(ISSUES, params={"severity": "info"})).json()["items"]
        assert {i["first_seen_run_id"] for i in unchanged} == {first["id"]}
        assert {i["run_id"] for i in unchanged} == {second["id"]}


class TestIssues:
    @pytest.fixture(autouse=True)
    async def stored_run(self, client: httpx.AsyncClient, seeded: None) -> dict[str, Any]:
        return await _run(client)

    async def test_duplicate_lists_items_4_5_6(self, client: httpx.AsyncClient) -> None:
        r = await client.get(ISSUES, params={"rule": "code.duplicate"})
        assert r.status_code == 200
        (issue,) = r.json()["items"]
        assert issue["severity"] == "error"
        assert issue["field"] == "local_code"
        assert issue["value"] == SHARED_CODE
        assert [(i["agency"], i["seq"]) for i in issue["items"]] == [
            ("民勤县医疗保障局", 4),
            ("民勤县医疗保障局", 5),
            ("民勤县医疗保障局", 6),
        ]
        assert len(issue["fingerprint"]) == 64

    async def test_rule_and_severity_filters(self, client: httpx.AsyncClient) -> None:
        cases: list[tuple[dict[str, str], int]] = [
            ({"severity": "error"}, 1),
            ({"severity": "warning"}, 56),
            ({"severity": "info"}, 4),
            ({"rule": "item.missing_code"}, 28),
            ({"rule": "type.nonstandard_label", "severity": "info"}, 4),
            ({"rule": "code.shape"}, 0),
        ]
        for params, expected in cases:
            assert len(await _all_pages(client, {**params, "limit": 1000})) == expected, params

    async def test_agency_and_item_filters(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        dunhuang = await _agency_id(session, "敦煌市医疗保障局")
        minqin = await _agency_id(session, "民勤县医疗保障局")
        assert len(await _all_pages(client, {"agency": dunhuang})) == 60
        assert [i["rule"] for i in await _all_pages(client, {"agency": minqin})] == [
            "code.duplicate"
        ]
        item5 = await _item(session, "民勤县医疗保障局", 5)
        by_item = await _all_pages(client, {"item_id": item5.id})
        assert [i["rule"] for i in by_item] == ["code.duplicate"]
        item17 = await _item(session, "敦煌市医疗保障局", 17)
        assert sorted(i["rule"] for i in await _all_pages(client, {"item_id": item17.id})) == [
            "item.missing_code",
            "item.missing_level_or_handling_unit",
            "type.nonstandard_label",
        ]

    async def test_an_item_without_issues_is_an_empty_page_an_unknown_one_a_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        clean = await _item(session, "民勤县医疗保障局", 1)  # the list's issue is items 4–6
        assert await _all_pages(client, {"item_id": clean.id}) == []
        r = await client.get(ISSUES, params={"item_id": 999_999})
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "item.not_found"
        assert r.json()["detail"] == "item 999999 does not exist"

    async def test_fingerprint_filter_finds_one_problem(self, client: httpx.AsyncClient) -> None:
        first = (await client.get(ISSUES, params={"limit": 1})).json()["items"][0]
        found = await _all_pages(client, {"fingerprint": first["fingerprint"]})
        assert [i["id"] for i in found] == [first["id"]]

    async def test_pages_cover_every_issue_once_errors_first(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get(ISSUES, params={"limit": 7})
        assert len(r.json()["items"]) == 7
        assert r.json()["next_cursor"]
        every = await _all_pages(client, {"limit": 7})
        assert len(every) == len({i["id"] for i in every}) == 61
        ranks = {"error": 0, "warning": 1, "info": 2}
        severities = [ranks[i["severity"]] for i in every]
        assert severities == sorted(severities)

    async def test_link_headers_walk_the_pages(self, client: httpx.AsyncClient) -> None:
        every = await _all_pages(client, {"limit": 7, "severity": "warning"})
        by_link: list[int] = []
        r = await client.get(ISSUES, params={"limit": 7, "severity": "warning"})
        while "next" in r.links:
            by_link += [i["id"] for i in r.json()["items"]]
            assert "severity=warning" in r.links["next"]["url"]
            r = await client.get(r.links["next"]["url"])
        by_link += [i["id"] for i in r.json()["items"]]
        assert r.json()["next_cursor"] is None
        assert by_link == [i["id"] for i in every]
        assert len(by_link) > 7

    async def test_default_is_the_newest_run(
        self, client: httpx.AsyncClient, stored_run: dict[str, Any]
    ) -> None:
        newer = await _run(client)
        items = (await client.get(ISSUES)).json()["items"]
        assert {i["run_id"] for i in items} == {newer["id"]}
        older = (await client.get(ISSUES, params={"run_id": stored_run["id"]})).json()["items"]
        assert {i["run_id"] for i in older} == {stored_run["id"]}

    async def test_tampered_cursor_is_400_problem(self, client: httpx.AsyncClient) -> None:
        cursor = (await client.get(ISSUES, params={"limit": 1})).json()["next_cursor"]
        tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        r = await client.get(ISSUES, params={"cursor": tampered})
        assert r.status_code == 400
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "cursor.invalid"

    async def test_cursor_of_another_run_is_400_problem(
        self, client: httpx.AsyncClient, stored_run: dict[str, Any]
    ) -> None:
        newer = await _run(client)
        cursor = (await client.get(ISSUES, params={"limit": 1})).json()["next_cursor"]
        r = await client.get(ISSUES, params={"cursor": cursor, "run_id": stored_run["id"]})
        assert newer["id"] != stored_run["id"]
        assert r.status_code == 400
        assert r.json()["code"] == "cursor.invalid"


class TestCrossAgency:
    async def test_issue_of_two_agencies_is_found_under_each(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # Two agencies whose lists print the same code: one duplicate that concerns both.
        agencies = [Agency(name="甲县医疗保障局"), Agency(name="乙县医疗保障局")]
        session.add_all(agencies)
        await session.flush()
        for agency in agencies:
            session.add(
                Item(
                    agency_id=agency.id,
                    seq=1,
                    name=f"{agency.name}的事项",
                    power_type_code="02",
                    power_type_raw="行政处罚",
                    local_code="11620621MB176555834620236001000",
                    exercising_body=agency.name,
                    handling_unit="基金监管股",
                    legal_basis="《医疗保障基金使用监督管理条例》第三十八条",
                    legal_citations=[],
                    responsibilities="1.立案阶段责任",
                    accountability="1.没有法律依据实施处罚的",
                )
            )
        await session.flush()
        await _run(client)
        for agency in agencies:
            found = await _all_pages(client, {"agency": agency.id, "rule": "code.duplicate"})
            assert [[i["agency"] for i in f["items"]] for f in found] == [
                ["甲县医疗保障局", "乙县医疗保障局"]
            ]
        # An agency without issues gets an empty page; one that does not exist a 404.
        third = Agency(name="丙县医疗保障局")
        session.add(third)
        await session.flush()
        assert await _all_pages(client, {"agency": third.id}) == []
        r = await client.get(ISSUES, params={"agency": 999_999})
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "agency.not_found"


class TestRefusals:
    """Bad requests need no catalogue: they are refused before anything is read."""

    @pytest.mark.parametrize(
        ("params", "code"),
        [({"agency": 999_999}, "agency.not_found"), ({"item_id": 999_999}, "item.not_found")],
    )
    async def test_an_unknown_agency_or_item_is_a_404_before_any_run(
        self, client: httpx.AsyncClient, params: dict[str, int], code: str
    ) -> None:
        # No run yet: the page would be empty for any filter. The filter still has to name
        # something that exists, as it must once runs exist (TestIssues, TestCrossAgency).
        r = await client.get(ISSUES, params=params)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == code

    async def test_unknown_run_is_404_problem(self, client: httpx.AsyncClient) -> None:
        r = await client.get(f"{RUNS}/999999")
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "validation_run.not_found"

    async def test_unknown_agency_is_422_problem(self, client: httpx.AsyncClient) -> None:
        r = await client.post(RUNS, json={"agency_id": 999999})
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"

    @pytest.mark.parametrize(
        "body",
        [{"agency_id": "x"}, {"agency_id": 0}, {"extra": 1}, {"agency_id": 2**40}],
        ids=["text", "zero", "unknown-field", "too-big"],
    )
    async def test_bad_body_is_422_problem(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        r = await client.post(RUNS, json=body)
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 0},
            {"limit": 1001},
            {"severity": "fatal"},
            {"rule": "no dots"},
            {"item_id": -1},
            {"agency": "民勤"},
            {"fingerprint": "xyz"},
        ],
        ids=["limit-0", "limit-1001", "severity", "rule", "item", "agency-name", "fp"],
    )
    async def test_bad_params_are_422_problems(
        self, client: httpx.AsyncClient, params: dict[str, Any]
    ) -> None:
        r = await client.get(ISSUES, params=params)
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"
        assert r.json()["errors"]

    async def test_overlong_cursor_is_400_cursor_problem(self, client: httpx.AsyncClient) -> None:
        # Every bad cursor is 400 cursor.invalid, also one too long for the parameter (7097c62).
        r = await client.get(ISSUES, params={"cursor": "x" * 513})
        assert r.status_code == 400
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "cursor.invalid"

    async def test_unknown_run_id_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.get(ISSUES, params={"run_id": 999999})
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "validation_run.not_found"


class TestNoRunYet:
    async def test_issues_are_an_empty_page(self, client: httpx.AsyncClient) -> None:
        r = await client.get(ISSUES)
        assert r.status_code == 200
        assert r.json() == {"items": [], "next_cursor": None}
