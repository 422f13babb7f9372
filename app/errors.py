"""Domain errors: plain exceptions with a stable dotted `code`, no HTTP status.

    DomainError
    ├── NotFoundError             (404 at the edge)
    │   ├── ItemNotFoundError
    │   ├── ItemRevisionNotFoundError
    │   ├── AgencyNotFoundError
    │   └── ValidationRunNotFoundError
    ├── ConflictError             (409)
    │   └── AmbiguousCodeError
    ├── VersionMismatchError      (412)
    ├── InvalidInputError         (422)
    │   ├── ImportFormatError
    │   ├── ValidationFailedError
    │   └── InvalidCursorError    (400)
    ├── PreconditionRequiredError (428)
    ├── PayloadTooLargeError      (413)
    └── DatabaseUnavailableError  (503)

`app/api/problems.py` maps each class to its status; the CLI prints `message` on one line.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the service raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class NotFoundError(DomainError):
    code = "not_found"


class ItemNotFoundError(NotFoundError):
    code = "item.not_found"


class ConflictError(DomainError):
    code = "conflict"


class AmbiguousCodeError(ConflictError):
    code = "item.ambiguous_code"


class VersionMismatchError(DomainError):
    code = "item.version_mismatch"


class InvalidInputError(DomainError):
    code = "invalid_input"


class ImportFormatError(InvalidInputError):
    code = "import.bad_format"


class PayloadTooLargeError(DomainError):
    code = "payload_too_large"


class DatabaseUnavailableError(DomainError):
    code = "database.unavailable"


class InvalidCursorError(InvalidInputError):
    code = "cursor.invalid"


class PreconditionRequiredError(DomainError):
    code = "precondition_required"


class ItemRevisionNotFoundError(NotFoundError):
    code = "item_revision.not_found"


class ValidationFailedError(InvalidInputError):
    """A write would add an error-severity catalogue problem."""

    code = "item.validation_failed"


class AgencyNotFoundError(NotFoundError):
    code = "agency.not_found"


class ValidationRunNotFoundError(NotFoundError):
    code = "validation_run.not_found"
