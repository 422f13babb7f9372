"""Import report: what an import (or dry run) did, with every problem traced to file and line."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ImportFormat = Literal["auto", "tsv", "pdf-text", "csv", "xlsx", "json", "ndjson"]


class ImportCounts(BaseModel):
    items: int = Field(0, description="items read from the file")
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    restored: int = Field(0, description="withdrawn items that are back in the list")
    vanished: int = Field(0, description="catalogue items of the agency missing from the file")
    withdrawn: int = Field(
        0,
        description="items withdrawn: vanished ones (only with withdraw_missing), or rows an "
        "export marks withdrawn",
    )
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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": None,
                    "file": "minqin-medical-security.tsv.txt",
                    "sha256": "375fe80805304390b022602926d569960122a4f68dd30fc06b8a6a1a73e9bce8",
                    "format": "tsv",
                    "dry_run": True,
                    "status": "dry_run",
                    "agencies": ["民勤县医疗保障局"],
                    "counts": {
                        "items": 9,
                        "new": 0,
                        "changed": 1,
                        "unchanged": 8,
                        "restored": 0,
                        "vanished": 0,
                        "withdrawn": 0,
                        "warnings": 0,
                        "errors": 0,
                    },
                    "problems": [],
                    "changed": [
                        {
                            "id": 29,
                            "seq": 1,
                            "name": "对医保定点医药机构、医保经办机构、"
                            "参保人骗取医保基金支出的处罚",
                            "local_code": "11620621MB176555834620236001000",
                            "line": 4,
                        }
                    ],
                    "vanished": [],
                    "validation": [],
                }
            ]
        }
    )

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
    validation: list[dict[str, Any]] = Field(
        default_factory=list,
        description="dry runs: the validation issues the file would add to the catalogue "
        "(items that do not exist yet have id null)",
    )
