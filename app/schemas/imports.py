"""Import report: what an import (or dry run) did, with every problem traced to file and line."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ImportFormat = Literal["auto", "tsv", "pdf-text", "csv", "xlsx", "json", "ndjson"]


class ImportCounts(BaseModel):
    items: int = Field(0, description="items read from the file")
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    restored: int = Field(0, description="withdrawn items that are back in the list")
    vanished: int = Field(0, description="catalogue items of the agency missing from the file")
    withdrawn: int = Field(0, description="vanished items withdrawn (only with withdraw_missing)")
    warnings: int = 0
    errors: int = 0


class ImportProblem(BaseModel):
    severity: Literal["error", "warning", "info"]
    code: str = Field(examples=["import.repeated_row"])
    message: str
    file: str
    line: int | None = None
    line_end: int | None = None
    field: str | None = None


class ImportedItemRef(BaseModel):
    id: int | None = Field(None, description="catalogue id; null for a new item in a dry run")
    seq: int | None
    name: str
    local_code: str | None
    line: int | None = None


class ImportReport(BaseModel):
    """Outcome of importing one file."""

    batch_id: int | None = Field(
        None, description="the import batch; null when nothing was written"
    )
    file: str
    sha256: str
    format: str
    dry_run: bool
    status: Literal["imported", "unchanged", "dry_run"]
    agencies: list[str]
    counts: ImportCounts
    problems: list[ImportProblem]
    changed: list[ImportedItemRef] = Field(default_factory=list)
    vanished: list[ImportedItemRef] = Field(default_factory=list)
