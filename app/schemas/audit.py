"""Audit trail entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    """Who did what, when and why: one write through the API or the CLI."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    "at": "2026-11-26T09:00:00Z",
                    "api_key_id": 3,
                    "actor": "key:3:release-bot",
                    "request_id": "7e19bdae3894440bbface9d6670d0fb4",
                    "action": "release.create",
                    "target_type": "release",
                    "target_id": "2026-11",
                    "reason": "重复编码已报编制部门核实，先行发布",
                    "change": {"item_count": 37, "is_forced": True},
                }
            ]
        }
    )

    id: int
    at: datetime
    api_key_id: int | None
    actor: str
    request_id: str | None
    action: str
    target_type: str
    target_id: str | None
    reason: str | None
    change: dict[str, Any] | None
