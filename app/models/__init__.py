"""ORM models; every mapped class is re-exported here so migrations see the whole schema."""

from app.models.agency import Agency
from app.models.api_key import ApiKey, ApiKeyAgency
from app.models.audit_entry import AuditEntry
from app.models.base import Base
from app.models.change import Change
from app.models.import_batch import ImportBatch
from app.models.item import Item
from app.models.item_revision import ItemRevision
from app.models.power_type import PowerType
from app.models.release import Release, ReleaseItem
from app.models.validation_run import ValidationIssue, ValidationRun

__all__ = [
    "Agency",
    "ApiKey",
    "ApiKeyAgency",
    "AuditEntry",
    "Base",
    "Change",
    "ImportBatch",
    "Item",
    "ItemRevision",
    "PowerType",
    "Release",
    "ReleaseItem",
    "ValidationIssue",
    "ValidationRun",
]
