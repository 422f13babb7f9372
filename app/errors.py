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
    │   │   └── ImportTooLargeError
    │   ├── ValidationFailedError
    │   └── InvalidCursorError    (400)
    ├── PreconditionRequiredError (428)
    ├── PayloadTooLargeError      (413)
    ├── UnauthorizedError         (401)
    ├── ForbiddenError            (403)
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


class ImportTooLargeError(ImportFormatError):
    """A file within the upload limit that unpacks too big: a ZIP bomb, an oversized sheet."""

    code = "import.too_large"


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


class ReleaseNotFoundError(NotFoundError):
    code = "release.not_found"


class ReleaseExistsError(ConflictError):
    code = "release.exists"


class ReleaseBlockedError(ConflictError):
    """Error-severity validation issues exist; `details["counts"]` has the counts per severity."""

    code = "release.blocked"


class ReleaseRaceError(ConflictError):
    """Items changed while a release was being made: its snapshot and its check disagree."""

    code = "release.catalogue_changed"


class ReleaseReasonRequiredError(InvalidInputError):
    code = "release.reason_required"


class UnauthorizedError(DomainError):
    """No valid API key was presented."""

    code = "auth.unauthorized"


class ForbiddenError(DomainError):
    """The key is valid but may not do this (scope or agency)."""

    code = "auth.forbidden"
