"""Change feed entries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.items import ItemRead


class ChangeRead(BaseModel):
    """One change of one item, with the item's state right after it."""

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

    changes: list[ChangeRead]
    next_cursor: str = Field(description="pass as `after` to continue; never null")
    has_more: bool = Field(description="true when more changes are ready right now")
