"""Change feed entries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.schemas.items import ITEM_EXAMPLE, ItemRead

CHANGE_EXAMPLE: dict[str, JsonValue] = {
    "position": 38,
    "kind": "update",
    "item_id": 29,
    "version": 2,
    "changed_at": "2026-11-26T09:30:00Z",
    "actor": "key:1:quickstart",
    "reason": "年度复核",
    "item": {**ITEM_EXAMPLE, "remarks": "2026年清单复核", "version": 2},
}


class ChangeRead(BaseModel):
    """One change of one item, with the item's state right after it."""

    model_config = ConfigDict(json_schema_extra={"examples": [CHANGE_EXAMPLE]})

    position: int = Field(description="feed position of the change")
    kind: Literal["create", "update", "withdraw", "restore"]
    item_id: int
    version: int
    changed_at: datetime
    actor: str
    reason: str | None
    item: ItemRead


class ChangePage(BaseModel):
    """A page of the feed. Always carries a cursor: poll with it to get what happens next."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "changes": [CHANGE_EXAMPLE],
                    "next_cursor": "WyJjaGFuZ2VzIixbMzhdXQ",
                    "has_more": False,
                }
            ]
        }
    )

    changes: list[ChangeRead]
    next_cursor: str = Field(description="pass as `after` to continue; never null")
    has_more: bool = Field(description="true when more changes are ready right now")
