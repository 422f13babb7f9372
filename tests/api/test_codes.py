"""GET /api/v1/codes/{code}: decoding real codes, and bad codes as 200 with their problems."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.services import codes

PROBLEM = "application/problem+json"

# Real codes from reference/codes.md, with their segments as the reference documents them.
REAL_CODES = [
    (
        "11620621MB176555834620236001000",
        {"level": "4", "region": "62", "type": "02", "department": "36", "main": "001"},
        {"level": "县级", "type": "行政处罚", "region": "省级增设事项（62）", "sub": "无子项"},
    ),
    (
        "11620621MB176555834621036001000",
        {"level": "4", "region": "62", "type": "10", "department": "36", "main": "001"},
        {"level": "县级", "type": "其他行政权力", "region": "省级增设事项（62）", "sub": "无子项"},
    ),
    (
        "11450721MB155808114000104002000",
        {"level": "4", "region": "00", "type": "01", "department": "04", "main": "002"},
        {"level": "县级", "type": "行政许可", "region": "沿用国家目录事项（00）", "sub": "无子项"},
    ),
    (
        "1145072100811537184452004020000",
        {"level": "4", "region": "45", "type": "20", "department": "04", "main": "020"},
        {"level": "县级", "type": "公共服务", "region": "省级增设事项（45）", "sub": "无子项"},
    ),
    (
        "11440100007482575H3440118009000",
        {"level": "3", "region": "44", "type": "01", "department": "18", "main": "009"},
        {"level": "市级", "type": "行政许可", "region": "省级增设事项（44）", "sub": "无子项"},
    ),
    (
        "11440300MB2D0722464440127028001",
        {"level": "4", "region": "44", "type": "01", "department": "27", "main": "028"},
        {"level": "县级", "type": "行政许可", "region": "省级增设事项（44）", "sub": "第1个子项"},
    ),
]


class TestRealCodes:
    @pytest.mark.parametrize(
        ("code", "parts", "labels"), REAL_CODES, ids=[c for c, _, _ in REAL_CODES]
    )
    async def test_real_code_decodes_valid(
        self,
        client: httpx.AsyncClient,
        code: str,
        parts: dict[str, str],
        labels: dict[str, str],
    ) -> None:
        r = await client.get(f"/api/v1/codes/{code}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["valid"] is True
        assert body["problems"] == []
        assert body["normalized"] == code
        assert body["parts"] == {
            "credit_code": code[:18],
            **parts,
            "sub": code[28:31],
            "handling": None,
        }
        assert body["labels"] == labels

    async def test_handling_suffix_is_a_part(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/codes/11620621MB17655583462023600100001")
        assert r.json()["valid"] is True
        assert r.json()["parts"]["handling"] == "01"

    async def test_full_width_spaced_lower_case_is_normalised(
        self, client: httpx.AsyncClient
    ) -> None:
        messy = "１１６２０６２１mb１７６５５５８３ ４６２０２３６００１０００"
        r = await client.get("/api/v1/codes/" + quote(messy))
        assert r.status_code == 200
        assert r.json()["valid"] is True
        assert r.json()["normalized"] == "11620621MB176555834620236001000"


class TestBadCodes:
    @pytest.mark.parametrize(
        ("code", "problem"),
        [
            ("11620621MB176555844620236001000", "code.check_digit"),
            ("11620621MB17655583462023600100", "code.length"),
            ("11620621IB176555834620236001000", "code.alphabet"),
            ("11620621MB176555838620236001000", "code.level"),
            ("11620621MB176555834990236001000", "code.region"),
            ("11620621MB176555834620036001000", "code.type_unknown"),
            ("11620621MB176555834620236000000", "code.main_item"),
            ("11620621MB1765558346202360010Y0", "code.sub_item"),
        ],
    )
    async def test_bad_code_is_200_with_its_problem(
        self, client: httpx.AsyncClient, code: str, problem: str
    ) -> None:
        r = await client.get(f"/api/v1/codes/{code}")
        assert r.status_code == 200
        body = r.json()
        assert body["valid"] is False
        assert problem in [p["code"] for p in body["problems"]]
        assert all(p["message"] for p in body["problems"])

    async def test_wrong_length_has_no_parts(self, client: httpx.AsyncClient) -> None:
        body = (await client.get("/api/v1/codes/123")).json()
        assert body["parts"] is None
        assert body["labels"] is None
        assert [p["code"] for p in body["problems"]] == ["code.length"]

    async def test_over_long_path_is_422_problem(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/codes/" + "1" * 65)
        assert r.status_code == 422
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "invalid_input"


class TestAnyInput:
    # The client is reused across examples on purpose: decoding is stateless and reads nothing.
    @settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        raw=st.text(min_size=1, max_size=64).filter(
            # "/" would end the path segment; "." and ".." are path syntax, not codes; URLs with
            # NUL are refused for every route (tests/api/test_hardening.py).
            lambda s: "/" not in s and "\x00" not in s and s.strip() and s not in {".", ".."}
        )
    )
    @example(raw="\x00")
    @example(raw="１１６２０６２１ＭＢ１７６５５５８３４６２０２３６００１０００")
    async def test_any_text_decodes_like_the_service(
        self, client: httpx.AsyncClient, raw: str
    ) -> None:
        r = await client.get("/api/v1/codes/" + quote(raw, safe=""))
        if "\x00" in raw:
            # The edge refuses NUL in any URL before routing (PostgreSQL cannot store it).
            assert r.status_code == 400
            assert r.headers["content-type"] == PROBLEM
            assert r.json()["code"] == "bad_request"
            return
        assert r.status_code == 200
        expected = codes.decode(raw)
        assert r.json()["valid"] == expected.valid
        assert [p["code"] for p in r.json()["problems"]] == [p.code for p in expected.problems]
