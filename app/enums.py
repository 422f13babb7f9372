"""String enums shared by models, schemas and services."""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class ChangeKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    WITHDRAW = "withdraw"
    RESTORE = "restore"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ImportStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRY_RUN = "dry_run"


class KeyScope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
