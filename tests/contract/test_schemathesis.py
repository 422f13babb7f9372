"""Schemathesis against the real app: every operation, every check, and stateful runs along links.

The app runs in-process (ASGI) on a scratch database of its own, migrated for real and seeded
with the two lists in seed/, so generated requests meet real items. Hypothesis sends far more
requests than one rolled-back test transaction could hold, so this module does not use the
per-test session of tests/conftest.py: what the fuzzer writes stays in its scratch database,
which is dropped at the end.

`make test` runs a small budget per operation; `make fuzz` runs the `slow` tests below, which use
the same checks with a large budget.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.python import asgi as schemathesis_asgi
from starlette.types import Receive, Scope, Send

from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.enums import KeyScope
from app.main import create_app
from app.models import ApiKey
from app.services import keys
from app.settings import Settings
from tests.cli.test_cli import run
from tests.dbutil import drop_database, fresh_database

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted(str(p) for p in (ROOT / "seed").glob("*.txt"))

# Examples per operation and per generation mode: small in `make test`, large in `make fuzz`.
FAST_EXAMPLES = 10
DEEP_EXAMPLES = int(os.environ.get("POWERCAT_FUZZ_EXAMPLES", "500"))
FAST_STATEFUL_RUNS = 10
DEEP_STATEFUL_RUNS = int(os.environ.get("POWERCAT_FUZZ_STATEFUL_RUNS", "200"))


# Statuses that are right for a request the schema allows, beyond Schemathesis' defaults (2xx, 3xx,
# 401, 403, 404, 409, 429, 5xx). Each is the documented answer to something no schema can express.
STALE_PRECONDITION = "412"  # a well-formed If-Match naming another version (RFC 9110 13.1.1)
FORGED_CURSOR = "400"  # a cursor this service did not sign (listings only: see _cursor_operations)
MISSING_PRECONDITION = "428"  # a write without its required If-Match (RFC 6585 3)
CURSOR_PARAMETERS = {"cursor", "after"}
# Operations whose valid-looking input only the database or a parser can refuse, with a 422 problem
# (RFC 9110 15.5.21: well-formed content the server cannot process).
UNPROCESSABLE = "422"
UNPROCESSABLE_OPERATIONS = {
    "create_item": "an agency_id that names no agency; a change that would give the item an "
    "error-severity catalogue issue (item.validation_failed: duplicate code, wrong sub-item code…)",
    "update_item": "a change that would give the item an error-severity catalogue issue",
    "restore_item": "bringing back an item that now clashes with another (a duplicate code)",
    "create_validation_run": "an agency_id that names no agency",
    "create_import": "bytes that are not a list in any layout the importer knows",
}


def _cursor_operations(spec: dict[str, Any]) -> list[str]:
    """Listings taking an opaque, signed cursor: the schema bounds it, only the server checks it."""
    return sorted(
        operation["operationId"]
        for path in spec["paths"].values()
        for operation in path.values()
        if any(
            p["in"] == "query" and p["name"] in CURSOR_PARAMETERS
            for p in operation.get("parameters", [])
        )
    )


# Real data for what only the database can tell apart: the seeded agencies (the importer numbers
# them in file order) and a real published list for uploads. Negative cases still mutate these.
SEED_AGENCY_IDS = [1, 2]
UPLOAD_EXAMPLE = (ROOT / "seed" / "minqin-medical-security.tsv.txt").read_text(encoding="utf-8")


def _config(spec: dict[str, Any], max_examples: int) -> schemathesis.Config:
    positive = ["2xx", "3xx", "401", "403", "404", "409", STALE_PRECONDITION, "429", "5xx"]
    return schemathesis.Config.from_dict(
        {
            "seed": 20261125,
            "dictionaries": {
                "agencies": {"values": SEED_AGENCY_IDS},
                "lists": {"values": [UPLOAD_EXAMPLE]},
            },
            "parameters": {
                "body.agency_id": {"dictionary": "agencies", "probability": 1.0},
                "body.file": {"dictionary": "lists", "probability": 1.0},
            },
            # Every check but two. max_response_time: no wall-clock limits in tests.
            # use_after_free expects DELETE to make the resource disappear; here DELETE withdraws
            # and never erases (INTERFACE.md): the item stays at its URL with status withdrawn and
            # can be restored. `withdrawal_keeps_the_item` below checks that behaviour instead.
            "checks": {
                "enabled": True,
                "use_after_free": {"enabled": False},
                "positive_data_acceptance": {"expected-statuses": positive},
                "missing_required_header": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "406",
                        "415",
                        "422",
                        MISSING_PRECONDITION,
                    ]
                },
            },
            "generation": {"max-examples": max_examples, "mode": "all"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True},
            },
            "operations": [
                {
                    "include-operation-id": _cursor_operations(spec),
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*positive, FORGED_CURSOR]
                        }
                    },
                },
                {
                    "include-operation-id": sorted(UNPROCESSABLE_OPERATIONS),
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*positive, UNPROCESSABLE]
                        }
                    },
                },
            ],
        }
    )


@schemathesis.check
def withdrawal_keeps_the_item(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """A successful withdrawal answers with the item, withdrawn; a restore with it, active."""
    expected = {"withdraw_item": "withdrawn", "restore_item": "active"}.get(
        str(case.operation.definition.raw.get("operationId"))
    )
    if expected is None or not 200 <= response.status_code < 300:
        return None
    status = response.json().get("status")
    if status != expected:
        raise AssertionError(f"{case.operation.label} answered status {status!r}, not {expected!r}")
    return None


class AppUnderTest:
    """The ASGI app Schemathesis sends to (and probes, for auth checks), known from import time.

    Test generation needs the schema when the module is imported, the app needs the scratch database
    of the `api` fixture: this stands for the app until the fixture plugs it in.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the `api` fixture plugs the app in"
        await self.app(scope, receive, send)


class AdminKey:
    """The hook for access control: every generated request carries an admin key, so that writes
    reach the code behind the key check (tests/api covers access control with other keys).

    Given to Schemathesis as an auth provider rather than as a fixed header, so that its negative
    cases can still leave the key out or spoil it where the document requires one.
    """

    token = keys.TOKEN_PREFIX + secrets.token_urlsafe(32)

    def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
        return AdminKey.token

    def set(
        self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext
    ) -> None:
        case.headers["Authorization"] = f"Bearer {data}"  # each case has headers of its own


APP = AppUnderTest()
# The document the app serves; tests/contract/test_openapi_file.py ties it to the committed file.
SPEC = create_app(Settings()).openapi()
SCHEMA = schemathesis.openapi.from_dict(SPEC, config=_config(SPEC, FAST_EXAMPLES))
DEEP_SCHEMA = schemathesis.openapi.from_dict(SPEC, config=_config(SPEC, DEEP_EXAMPLES))
for _schema in (SCHEMA, DEEP_SCHEMA):
    _schema.app = APP
    _schema.auth.auth(refresh_interval=None, retry_on=[])(AdminKey)


def _seed(database_url: str) -> None:
    result = run("import", *SEED_FILES, env={"POWERCAT_DATABASE_URL": database_url})
    assert result.returncode == 0, f"seeding failed: {result.stderr or result.stdout}"


async def _store_admin_key(database_url: str, token: str) -> None:
    """Store an admin key for a token chosen here (keys.create draws its own, too late for
    Schemathesis, which applies auth while it collects the tests)."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            session.add(
                ApiKey(
                    name="schemathesis",
                    prefix=token[:12],
                    key_hash=keys.hash_token(token),
                    scope=KeyScope.ADMIN,
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, str]]:
    """Plug in the app on a scratch database (migrated, seeded with seed/) and an admin key;
    yield the key's headers, for requests the test builds itself."""
    url = fresh_database(f"fuzz_{worker_id}", tmp_path_factory.mktemp("schemathesis"))
    migrations.upgrade(url)
    _seed(url)
    asyncio.run(_store_admin_key(url, AdminKey.token))
    # Rate limiting has its own tests; here it would only turn generated requests into 429s.
    APP.app = create_app(Settings(database_url=url, rate_limit_per_minute=1_000_000))
    try:
        yield {"Authorization": f"Bearer {AdminKey.token}"}
    finally:
        # Schemathesis starts the app's lifespan on the first request and keeps it for the process;
        # end it here so the engine lets go of the database before it is dropped.
        schemathesis_asgi.shutdown_lifespans()
        APP.app = None
        drop_database(url)


def _hypothesis_settings(max_examples: int, **extra: Any) -> hypothesis.settings:
    # Derandomized and without Hypothesis' example database: every run sends the same requests,
    # so a failure is reproduced by running the test again, on either database.
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


@SCHEMA.parametrize()
@_hypothesis_settings(FAST_EXAMPLES)
def test_operation_conforms(case: schemathesis.Case[Any], api: dict[str, str]) -> None:
    """Generated requests, valid and invalid, get documented statuses, headers and bodies."""
    case.call_and_validate()


@pytest.mark.slow
@DEEP_SCHEMA.parametrize()
@_hypothesis_settings(DEEP_EXAMPLES)
def test_operation_conforms_deep(case: schemathesis.Case[Any], api: dict[str, str]) -> None:
    """`make fuzz`: the same as above with a large budget."""
    case.call_and_validate()


class StatefulRun:
    """A state machine over the app, and every failure its steps raised, as they happened."""

    def __init__(self, schema: Any) -> None:
        self.failures: list[Exception] = []
        failures = self.failures
        base: type[APIStateMachine] = schema.as_state_machine()

        class Machine(base):  # type: ignore[valid-type, misc]
            """Follows the links: create → get → update with its ETag → withdraw."""

            def step(self, input: Any) -> Any:
                try:
                    return super().step(input)
                except hypothesis.errors.HypothesisException:
                    raise  # Hypothesis' own control flow (an unmet assumption), not a failure
                except Exception as exc:
                    failures.append(exc)
                    raise

        self.machine = Machine

    def run(self, settings: hypothesis.settings) -> None:
        try:
            self.machine.run(settings=settings)
        except hypothesis.errors.Flaky:
            # Hypothesis replays a sequence to confirm and shrink it; the database kept what the
            # first run wrote, so the replay can go another way. Schemathesis' own runner counts
            # that as a pass unless a step failed on the way; so does this test.
            if self.failures:
                raise self.failures[0] from None


def _follow(response: Any, source_id: str, status: str, link: str) -> dict[str, dict[str, Any]]:
    """The parameters the document's link from `source_id` gives, evaluated on `response`."""
    definition = _operation(source_id)["responses"][status]["links"][link]
    found: dict[str, dict[str, Any]] = {"path": {}, "header": {}}
    for name, expression in definition["parameters"].items():
        location, _, key = name.rpartition(".")
        if expression == "$response.body#/id":
            value = response.json()["id"]
        elif expression.startswith("$response.header."):
            wanted = expression.removeprefix("$response.header.").lower()
            headers = {k.lower(): v for k, v in response.headers.items()}
            value = headers[wanted][0] if isinstance(headers[wanted], list) else headers[wanted]
        else:
            raise AssertionError(f"the test does not know the link expression {expression}")
        found[location or "path"][key] = value
    return found


def _operation(operation_id: str) -> dict[str, Any]:
    for path in SPEC["paths"].values():
        for operation in path.values():
            if operation.get("operationId") == operation_id:
                found: dict[str, Any] = operation
                return found
    raise AssertionError(f"no operation {operation_id}")


def test_item_lifecycle_follows_the_documented_links(api: dict[str, str]) -> None:
    """create → get → update with the ETag → withdraw → restore, each step only through the links
    the document gives (id from the body, If-Match from the ETag header), every check on each."""
    create = SCHEMA.find_operation_by_id("create_item")
    # The documented example (an item of the Minqin list), without its code: the examples phase
    # may have created it already, and a second item with the same code is refused.
    example = SPEC["components"]["schemas"]["ItemCreate"]["examples"][0]
    body = {key: value for key, value in example.items() if key != "local_code"}
    created = create.Case(body=body, media_type="application/json").call_and_validate(headers=api)
    assert created.status_code == 201

    def step(operation_id: str, response: Any, source: str, status: str, **extra: Any) -> Any:
        params = _follow(response, source, status, operation_id)
        case = SCHEMA.find_operation_by_id(operation_id).Case(
            path_parameters=params["path"], headers=params["header"], **extra
        )
        result = case.call_and_validate(headers=api)
        assert result.status_code == 200, (operation_id, result.status_code, result.text)
        return result

    got = step("get_item", created, "create_item", "201")
    assert got.json()["version"] == 1
    updated = step(
        "update_item",
        created,
        "create_item",
        "201",
        body={"remarks": "经链接更新", "reason": "stateful"},
        media_type="application/json",
    )
    assert updated.json()["version"] == 2
    withdrawn = step("withdraw_item", updated, "update_item", "200")
    assert withdrawn.json()["status"] == "withdrawn"
    restored = step("restore_item", withdrawn, "withdraw_item", "200")
    assert restored.json()["status"] == "active"
    assert restored.json()["version"] == 4


def test_stateful_links(api: dict[str, str]) -> None:
    """Random sequences along the document's links (and those Schemathesis infers) conform too."""
    StatefulRun(SCHEMA).run(_hypothesis_settings(FAST_STATEFUL_RUNS, stateful_step_count=6))


@pytest.mark.slow
def test_stateful_links_deep(api: dict[str, str]) -> None:
    """`make fuzz`: longer sequences, many more of them."""
    StatefulRun(DEEP_SCHEMA).run(_hypothesis_settings(DEEP_STATEFUL_RUNS, stateful_step_count=12))
