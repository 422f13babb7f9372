"""No breaking change inside /api/v1: openapi/openapi.json against the last release's copy.

docs/api-versioning.md is the policy; this is its check. openapi/released/v1.json is the contract
as last released; openapi/openapi.json is the contract now (tests/contract/test_openapi_file.py ties
it to the app). What a client built against the release relies on must still hold:

- every operation is still there, under the same operation id, with every success status;
- a request it could send is still accepted: no new required parameter or body field, no removed
  body field, no narrowed enum, type or bound;
- a response it could read still reads: no removed field, no field that stops being always
  present, no value of a type it has not seen.

Additions are compatible: new operations, optional parameters and fields, new response fields,
new enum values in responses (clients must tolerate unknown values, as the policy says).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

ROOT = Path(__file__).resolve().parents[2]
CURRENT = ROOT / "openapi" / "openapi.json"
RELEASED = ROOT / "openapi" / "released" / "v1.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Side = Literal["request", "response"]
Schema = dict[str, Any]


class Comparison:
    """Walks two versions of the document side by side and records what would break a client."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.breaks: list[str] = []
        self._seen: set[tuple[str, str, Side]] = set()

    def run(self) -> list[str]:
        for path, old_item in self.old.get("paths", {}).items():
            new_item = self.new.get("paths", {}).get(path, {})
            for method in METHODS:
                if method in old_item:
                    self._operation(
                        f"{method.upper()} {path}", old_item[method], new_item.get(method)
                    )
        return self.breaks

    def _break(self, where: str, what: str) -> None:
        self.breaks.append(f"{where}: {what}")

    # --- operations ------------------------------------------------------------------------------

    def _operation(self, where: str, old: dict[str, Any], new: dict[str, Any] | None) -> None:
        if new is None:
            self._break(where, "the operation was removed")
            return
        if old.get("operationId") != new.get("operationId"):
            self._break(
                where,
                f"operationId changed from {old.get('operationId')!r} to {new.get('operationId')!r}"
                " (generated clients name their methods after it)",
            )
        self._parameters(where, old.get("parameters", []), new.get("parameters", []))
        self._request_body(where, old.get("requestBody"), new.get("requestBody"))
        self._responses(where, old.get("responses", {}), new.get("responses", {}))

    def _parameters(self, where: str, old: list[Schema], new: list[Schema]) -> None:
        old_by_key = {(p["in"], p["name"].lower()): p for p in old}
        for param in new:
            key = (param["in"], param["name"].lower())
            label = f"{where} {param['in']} parameter {param['name']!r}"
            before = old_by_key.get(key)
            if param.get("required") and not (before and before.get("required")):
                self._break(label, "is now required (clients built on the release do not send it)")
            if before is not None:
                self._schema(label, before.get("schema", {}), param.get("schema", {}), "request")

    def _request_body(self, where: str, old: Schema | None, new: Schema | None) -> None:
        if new is None:
            return
        if old is None:
            if new.get("required"):
                self._break(where, "now requires a request body")
            return
        for media, old_content in old.get("content", {}).items():
            new_content = new.get("content", {}).get(media)
            label = f"{where} request body ({media})"
            if new_content is None:
                self._break(label, "is no longer accepted")
                continue
            self._schema(
                label, old_content.get("schema", {}), new_content.get("schema", {}), "request"
            )

    def _responses(self, where: str, old: Schema, new: Schema) -> None:
        for status, old_response in old.items():
            if not str(status).startswith("2"):
                continue
            new_response = new.get(status)
            label = f"{where} response {status}"
            if new_response is None:
                self._break(label, "is no longer documented")
                continue
            for media, old_content in old_response.get("content", {}).items():
                new_content = new_response.get("content", {}).get(media)
                if new_content is None:
                    self._break(f"{label} ({media})", "the media type is no longer served")
                    continue
                self._schema(
                    f"{label} ({media})",
                    old_content.get("schema", {}),
                    new_content.get("schema", {}),
                    "response",
                )

    # --- schemas ---------------------------------------------------------------------------------

    def _resolve(self, document: dict[str, Any], schema: Schema) -> tuple[str, Schema]:
        ref = schema.get("$ref", "")
        if not ref:
            return "", schema
        name = ref.rsplit("/", 1)[-1]
        return name, self._resolve(document, document["components"]["schemas"][name])[1]

    def _schema(
        self, where: str, old_raw: Schema, new_raw: Schema, side: Side, *, outer: bool = True
    ) -> None:
        old_ref, old = self._resolve(self.old, old_raw)
        new_ref, new = self._resolve(self.new, new_raw)
        if old_ref and new_ref:
            # A component is compared once per side, where it is first used: no repeats, no loops.
            if (old_ref, new_ref, side) in self._seen:
                return
            self._seen.add((old_ref, new_ref, side))
        if outer:
            self._types(where, old, new, side)  # with null: a field that becomes nullable counts
        old_inner, new_inner = _non_null(old), _non_null(new)
        if old_inner is not old or new_inner is not new:
            self._schema(where, old_inner, new_inner, side, outer=False)
            return
        self._enum(where, old, new, side)
        if side == "request":
            self._bounds(where, old, new)
        if "properties" in old or "properties" in new:
            self._object(where, old, new, side)
        if "items" in old and "items" in new:
            self._schema(f"{where}[]", old["items"], new["items"], side)

    def _object(self, where: str, old: Schema, new: Schema, side: Side) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_prop in old_props.items():
            label = f"{where} .{name}"
            if name not in new_props:
                if side == "response":
                    self._break(label, "the response field was removed")
                elif new.get("additionalProperties") is False:
                    self._break(label, "the request field is no longer accepted")
                continue
            if side == "response" and name in old_required and name not in new_required:
                self._break(label, "the response field is no longer always present")
            self._schema(label, old_prop, new_props[name], side)
        if side == "request":
            for name in sorted(new_required - old_required):
                self._break(f"{where} .{name}", "the request field is now required")

    def _types(self, where: str, old: Schema, new: Schema, side: Side) -> None:
        old_types, new_types = self._type_set(self.old, old), self._type_set(self.new, new)
        if not old_types or not new_types:
            return  # one side takes any type: nothing to compare
        if side == "request" and not old_types <= _widened(new_types):
            self._break(where, f"accepted {_fmt(old_types)}, now only {_fmt(new_types)}")
        if side == "response" and not new_types <= _widened(old_types):
            self._break(
                where, f"returned {_fmt(old_types)}, now also {_fmt(new_types - old_types)}"
            )

    def _type_set(self, document: dict[str, Any], schema: Schema) -> set[str]:
        schema = self._resolve(document, schema)[1]
        declared = schema.get("type")
        if isinstance(declared, str):
            return {declared}
        if isinstance(declared, list):
            return set(declared)
        found: set[str] = set()
        for option in _alternatives(schema):
            option_types = self._type_set(document, option)
            if not option_types:
                return set()
            found |= option_types
        if not found and "properties" in schema:
            return {"object"}
        return found

    def _enum(self, where: str, old: Schema, new: Schema, side: Side) -> None:
        if side != "request":
            return  # responses may gain values: clients must tolerate unknown ones
        old_values, new_values = _enum(old), _enum(new)
        if new_values is None:
            return
        if old_values is None:
            self._break(where, f"now accepts only {sorted(map(str, new_values))} (a narrowed enum)")
        elif lost := old_values - new_values:
            self._break(where, f"no longer accepts {sorted(map(str, lost))} (a narrowed enum)")

    def _bounds(self, where: str, old: Schema, new: Schema) -> None:
        # Each bound, with how a new value compares to the old one when it narrows.
        for key, tighter in (
            ("maxLength", operator.lt),
            ("maximum", operator.lt),
            ("maxItems", operator.lt),
            ("minLength", operator.gt),
            ("minimum", operator.gt),
            ("minItems", operator.gt),
        ):
            before = old.get(key, old.get(PYDANTIC_SPELLING.get(key, key)))
            if key in new and (before is None or tighter(new[key], before)):
                shown = "none" if before is None else before
                self._break(where, f"{key} narrowed from {shown} to {new[key]}")


# A released document may spell a bound as pydantic did for some nullable fields (`ge` for
# `minimum`): not JSON Schema, so clients could not read it, but the server enforced it all the
# same. Its value is the released bound; writing it as JSON Schema now narrows nothing.
PYDANTIC_SPELLING = {
    "maximum": "le",
    "minimum": "ge",
    "maxLength": "max_length",
    "minLength": "min_length",
}


def _alternatives(schema: Schema) -> list[Schema]:
    return list(schema.get("anyOf", [])) + list(schema.get("oneOf", []))


def _non_null(schema: Schema) -> Schema:
    """The one non-null alternative of `X | null`, else the schema itself."""
    options = [s for s in _alternatives(schema) if s.get("type") != "null"]
    return options[0] if len(options) == 1 and len(_alternatives(schema)) <= 2 else schema


def _widened(types: set[str]) -> set[str]:
    return types | {"integer"} if "number" in types else types


def _enum(schema: Schema) -> set[Any] | None:
    if "enum" in schema:
        return set(schema["enum"])
    if "const" in schema:
        return {schema["const"]}
    options = _alternatives(schema)
    if options and all("enum" in o or "const" in o or o.get("type") == "null" for o in options):
        values: set[Any] = set()
        for option in options:
            values |= _enum(option) or {None}
        return values
    return None


def _fmt(types: set[str]) -> str:
    return " or ".join(sorted(types))


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return Comparison(old, new).run()


# --- the real check ------------------------------------------------------------------------------


def test_no_breaking_change_since_the_last_release() -> None:
    released = json.loads(RELEASED.read_text(encoding="utf-8"))
    current = json.loads(CURRENT.read_text(encoding="utf-8"))
    breaks = breaking_changes(released, current)
    assert not breaks, (
        f"{len(breaks)} breaking change(s) to /api/v1 since the last release "
        f"({RELEASED.relative_to(ROOT)}):\n  - "
        + "\n  - ".join(breaks)
        + "\n\nClients built against the release would fail. Make the change compatible "
        "(keep the field or operation and deprecate it, make the new input optional, accept the "
        "old values), or put it in a new major version (/api/v2) as docs/api-versioning.md says. "
        "The baseline changes only when a release is cut, never to make this test pass."
    )


def test_released_copy_describes_api_v1() -> None:
    released = json.loads(RELEASED.read_text(encoding="utf-8"))
    assert any(path.startswith("/api/v1/") for path in released["paths"])


# --- the comparison itself, on small documents ----------------------------------------------------


def _doc(**components: Schema) -> dict[str, Any]:
    item = components.pop("Item", {"type": "object", "properties": {}, "required": []})
    create = components.pop(
        "ItemCreate",
        {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
    )
    return {
        "openapi": "3.1.0",
        "paths": {
            "/api/v1/items": {
                "get": {
                    "operationId": "list_items",
                    "parameters": components.pop("params", {}).get("list", []),
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Item"},
                                    }
                                }
                            }
                        }
                    },
                },
                "post": {
                    "operationId": "create_item",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ItemCreate"}
                            }
                        },
                    },
                    "responses": {"201": {"description": "created"}},
                },
            }
        },
        "components": {"schemas": {"Item": item, "ItemCreate": create}},
    }


def _item(properties: Schema, required: list[str]) -> Schema:
    return {"type": "object", "properties": properties, "required": required}


def _create(properties: Schema, required: list[str]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _status_param(values: list[str], required: bool = False) -> dict[str, list[Schema]]:
    return {
        "list": [
            {
                "in": "query",
                "name": "status",
                "required": required,
                "schema": {"anyOf": [{"type": "string", "enum": values}, {"type": "null"}]},
            }
        ]
    }


NAME = {"type": "string", "maxLength": 500}
SEQ = {"anyOf": [{"type": "integer"}, {"type": "null"}]}


def _cases() -> Iterator[Any]:
    base_item = _item({"name": NAME, "seq": SEQ}, ["name", "seq"])
    base_create = _create({"name": NAME}, ["name"])
    base = _doc(Item=base_item, ItemCreate=base_create, params=_status_param(["a", "b"]))

    def variant(**changes: Any) -> dict[str, Any]:
        return _doc(
            Item=changes.get("Item", base_item),
            ItemCreate=changes.get("ItemCreate", base_create),
            params=changes.get("params", _status_param(["a", "b"])),
        )

    yield pytest.param(base, base, [], id="unchanged")
    yield pytest.param(
        base,
        variant(
            Item=_item({"name": NAME, "seq": SEQ, "remarks": NAME}, ["name", "seq"]),
            ItemCreate=_create({"name": NAME, "remarks": NAME}, ["name"]),
            params=_status_param(["a", "b", "c"]),
        ),
        [],
        id="additions-are-compatible",
    )
    removed_path = variant()
    del removed_path["paths"]["/api/v1/items"]["get"]
    yield pytest.param(base, removed_path, ["GET /api/v1/items: the operation"], id="removed-op")
    renamed = variant()
    renamed["paths"]["/api/v1/items"]["get"]["operationId"] = "get_items"
    yield pytest.param(base, renamed, ["operationId changed"], id="renamed-operation-id")
    yield pytest.param(
        base,
        variant(Item=_item({"name": NAME}, ["name"])),
        [".seq: the response field was removed"],
        id="removed-response-field",
    )
    yield pytest.param(
        base,
        variant(Item=_item({"name": NAME, "seq": SEQ}, ["name"])),
        [".seq: the response field is no longer always present"],
        id="response-field-optional",
    )
    yield pytest.param(
        base,
        variant(
            ItemCreate=_create(
                {"name": NAME, "agency_id": {"type": "integer"}}, ["name", "agency_id"]
            )
        ),
        [".agency_id: the request field is now required"],
        id="new-required-request-field",
    )
    yield pytest.param(
        base,
        variant(params=_status_param(["a", "b"], required=True)),
        ["parameter 'status': is now required"],
        id="new-required-parameter",
    )
    yield pytest.param(
        base,
        variant(params=_status_param(["a"])),
        ["no longer accepts ['b'] (a narrowed enum)"],
        id="narrowed-enum",
    )
    yield pytest.param(
        base,
        variant(Item=_item({"name": {"type": "integer"}, "seq": SEQ}, ["name", "seq"])),
        ["returned string, now also integer"],
        id="changed-response-type",
    )
    yield pytest.param(
        base,
        variant(
            Item=_item({"name": {"anyOf": [NAME, {"type": "null"}]}, "seq": SEQ}, ["name", "seq"])
        ),
        ["now also null"],
        id="response-field-becomes-nullable",
    )
    yield pytest.param(
        base,
        variant(ItemCreate=_create({"name": {"type": "string", "maxLength": 100}}, ["name"])),
        ["maxLength narrowed from 500 to 100"],
        id="narrowed-bound",
    )
    yield pytest.param(
        variant(ItemCreate=_create({"seq": {"type": "integer", "ge": 0}}, [])),
        variant(ItemCreate=_create({"seq": {"type": "integer", "minimum": 0}}, [])),
        [],
        id="pydantic-bound-written-as-json-schema",
    )
    yield pytest.param(
        variant(ItemCreate=_create({"seq": {"type": "integer", "ge": 0}}, [])),
        variant(ItemCreate=_create({"seq": {"type": "integer", "minimum": 1}}, [])),
        ["minimum narrowed from 0 to 1"],
        id="pydantic-bound-narrowed",
    )
    yield pytest.param(
        base,
        variant(ItemCreate=_create({}, [])),
        [".name: the request field is no longer accepted"],
        id="removed-request-field",
    )


@pytest.mark.parametrize(("old", "new", "expected"), list(_cases()))
def test_comparison_finds_what_breaks_clients(
    old: dict[str, Any], new: dict[str, Any], expected: list[str]
) -> None:
    found = breaking_changes(old, new)
    assert len(found) == len(expected), found
    for fragment, message in zip(expected, found, strict=True):
        assert fragment in message, found
