"""The OpenAPI document tells clients and fuzzers all: names, texts, limits, errors, examples.

Every operation has a readable, stable operation id (its route function's name), a tag, a summary
and a description; every parameter is bounded; every error status is documented as a problem+json
document; every JSON body and response has an example, and every example fits its schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from app.main import create_app
from app.settings import Settings

SPEC: dict[str, Any] = create_app(Settings()).openapi()
COMPONENTS: dict[str, Any] = SPEC["components"]["schemas"]
PROBLEM = "application/problem+json"
OPERATION_ID = re.compile(r"^[a-z]+(_[a-z]+)+$")


def _operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in SPEC["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


OPERATIONS = dict(_operations())


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    alternatives = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [_resolve(s) for s in alternatives if _resolve(s).get("type") != "null"]


def _has_example(schema: dict[str, Any]) -> bool:
    """An example on the schema, on the items of a list, or on the items of a page."""
    for option in _options(schema):
        if "examples" in option or "example" in option:
            continue
        if option.get("type") == "array" and _has_example(option.get("items", {})):
            continue
        lists = [p for p in option.get("properties", {}).values() if _resolve(p).get("items")]
        if lists and all(_has_example(_resolve(p)["items"]) for p in lists):
            continue
        return False
    return True


@pytest.mark.parametrize("label", list(OPERATIONS))
class TestOperation:
    def test_has_a_readable_operation_id(self, label: str) -> None:
        assert OPERATION_ID.match(OPERATIONS[label].get("operationId", "")), label

    def test_has_a_tag_a_summary_and_a_description(self, label: str) -> None:
        operation = OPERATIONS[label]
        assert operation.get("tags"), f"{label}: no tag"
        assert operation.get("summary"), f"{label}: no summary"
        assert operation.get("description"), f"{label}: no description (the route's docstring)"

    def test_documents_errors_as_problem_documents(self, label: str) -> None:
        for status, response in OPERATIONS[label]["responses"].items():
            if status[0] in "45":
                schema = response.get("content", {}).get(PROBLEM, {}).get("schema", {})
                assert schema == {"$ref": "#/components/schemas/Problem"}, f"{label} {status}"

    def test_documents_key_failures_where_a_key_is_required(self, label: str) -> None:
        operation = OPERATIONS[label]
        if operation.get("security"):
            missing = {"401", "403"} - set(operation["responses"])
            assert not missing, f"{label} needs a key but does not document {sorted(missing)}"

    def test_bounds_every_parameter(self, label: str) -> None:
        for parameter in OPERATIONS[label].get("parameters", []):
            for option in _options(parameter.get("schema", {})):
                kind = option.get("type")
                where = f"{label} {parameter['in']} {parameter['name']}"
                if kind == "string":
                    limits = {"maxLength", "pattern", "enum", "const", "format"} & set(option)
                    assert limits, f"{where}: a string without maxLength, pattern or enum"
                if kind == "string" and parameter["in"] in {"query", "path"}:
                    # The server refuses URLs holding NUL (400): the document must say so.
                    shaped = {"pattern", "enum", "const", "format"} & set(option)
                    assert shaped, f"{where}: a URL string without a pattern (e.g. NO_NUL_PATTERN)"
                if kind == "integer":
                    assert {"maximum", "enum"} & set(option), f"{where}: an unbounded integer"

    def test_shows_examples_of_json_bodies(self, label: str) -> None:
        operation = OPERATIONS[label]
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert _has_example(body["schema"]), f"{label}: request body without an example"
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json")
            if status.startswith("2") and content and "schema" in content:
                assert _has_example(content["schema"]), f"{label} {status}: no example"


def test_operation_ids_are_unique() -> None:
    ids = [operation["operationId"] for operation in OPERATIONS.values()]
    assert len(ids) == len(set(ids))


def _examples() -> Iterator[Any]:
    for name, schema in COMPONENTS.items():
        for index, example in enumerate(schema.get("examples", [])):
            yield pytest.param(name, example, id=f"{name}[{index}]")


@pytest.mark.parametrize(("name", "example"), list(_examples()))
def test_examples_fit_their_schemas(name: str, example: Any) -> None:
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    )
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example)]
    assert not errors, errors


# Keywords pydantic can leave in a schema that JSON Schema does not define, so that clients and
# fuzzers read no bound at all (`ge` where `minimum` was meant).
NOT_JSON_SCHEMA = frozenset({"ge", "gt", "le", "lt", "multiple_of", "min_length", "max_length"})


def _keywords(node: Any, at: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            # Under `properties` the keys are field names, not keywords.
            if at.endswith("/properties"):
                yield from _keywords(value, f"{at}/{key}")
                continue
            yield at, key
            yield from _keywords(value, f"{at}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _keywords(value, f"{at}/{index}")


def test_schemas_bound_values_with_json_schema_keywords() -> None:
    found = [f"{at}: {key}" for at, key in _keywords(SPEC, "") if key in NOT_JSON_SCHEMA]
    assert not found, found


def test_only_writes_take_a_change_reason() -> None:
    reads = [
        label
        for label, operation in OPERATIONS.items()
        if label.startswith("GET ")
        and any(p["name"].lower() == "x-change-reason" for p in operation.get("parameters", []))
    ]
    assert not reads, reads
