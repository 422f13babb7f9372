"""The committed openapi/openapi.json is exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_committed_spec_matches_the_app() -> None:
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == create_app().openapi(), (
        "openapi/openapi.json is stale: regenerate it with `powercat openapi` and commit it"
    )
