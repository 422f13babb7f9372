"""Validation runner: evaluate every rule (writing nothing), or evaluate and store a run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import Severity
from app.errors import InvalidInputError
from app.models import Agency, ValidationIssue, ValidationRun
from app.models.types import utcnow
from app.schemas.validation import (
    ValidationCounts,
    ValidationIssueItemRef,
    ValidationIssueRead,
    ValidationReport,
)
from app.services.validation import rules, sql
from app.services.validation.rules import IssueData

# Catalogue-wide rules: one set-based statement each (see sql.py).
_SET_RULES = (
    sql.duplicates,
    sql.sub_items,
    sql.main_numbers,
    sql.names_with_several_codes,
    sql.reused_codes,
)
# The catalogue-wide rules that report errors: what an API write may not make worse.
_ERROR_SET_RULES = (sql.duplicates, sql.sub_items)


async def evaluate(session: AsyncSession, *, agency_id: int | None = None) -> list[IssueData]:
    """Every issue of the active catalogue (or of one agency's items), errors first; writes nothing.

    With `agency_id`, per-item rules look at that agency's items only, and catalogue-wide rules
    report the groups that hold at least one of its items (with every item of the group).
    """
    issues: list[IssueData] = []
    # One streamed pass for all per-item rules: no query per item.
    async for facts in sql.item_facts(session, agency_id=agency_id):
        issues.extend(rules.check_item(facts))
    for rule in _SET_RULES:
        issues.extend(await rule(session, agency_id=agency_id))
    issues.sort(key=rules.sort_key)
    return issues


def counts(issues: Iterable[IssueData]) -> ValidationCounts:
    """Issues per severity."""
    result = ValidationCounts()
    for found in issues:
        setattr(result, found.severity.value, getattr(result, found.severity.value) + 1)
    return result


def to_read(found: IssueData) -> ValidationIssueRead:
    """The issue in the public shape (INTERFACE.md)."""
    return ValidationIssueRead(
        rule=found.rule,
        severity=found.severity.value,
        message=found.message,
        field=found.field,
        items=[ValidationIssueItemRef(**item.as_json()) for item in found.items],
        value=found.value,
    )


def report(issues: list[IssueData]) -> ValidationReport:
    """{issues, counts}: what `powercat validate --format json` prints."""
    return ValidationReport(issues=[to_read(i) for i in issues], counts=counts(issues))


def added(before: Iterable[IssueData], after: Iterable[IssueData]) -> list[IssueData]:
    """Issues of `after` that flag something `before` did not, in `after`'s order.

    An issue is new when it flags an item under a rule (with the same field and value) that no
    issue of `before` flagged: a duplicate that gains an item is new, one that only loses items
    (item 5 gets its own code, 4 and 6 still share one) is not, and neither is an unchanged one.
    For an import dry run (evaluate, apply the file inside a savepoint, evaluate again) and for
    the check of API writes.
    """
    known: set[tuple[str, str | None, str | None, int]] = set()
    for found in before:
        known |= found.flags
    return [found for found in after if not found.flags <= known]


async def evaluate_errors(
    session: AsyncSession, *, item_ids: Sequence[int], families: Sequence[str]
) -> list[IssueData]:
    """The error-severity issues a write to `item_ids` can change, errors only; writes nothing.

    Per-item rules look at those items; duplicates and sub-item integrity at the code families
    (first 28 characters, `sql.family_of`) of the codes they had and have. No other rule has
    error severity, and no other item's per-item checks depend on these items. A fixed number of
    statements, whatever the size of the catalogue or of the families.
    """
    issues: list[IssueData] = []
    if item_ids:
        async for facts in sql.item_facts(session, agency_id=None, item_ids=item_ids):
            issues.extend(i for i in rules.check_item(facts) if i.severity == Severity.ERROR)
    if families:
        for rule in _ERROR_SET_RULES:
            issues.extend(await rule(session, agency_id=None, families=families))
    issues.sort(key=rules.sort_key)
    return issues


def _issue_row(run_id: int, found: IssueData) -> dict[str, Any]:
    agency_ids = found.agency_ids
    details: dict[str, Any] = {
        # Snapshot of the items as they were, so the issue reads the same after they change.
        "items": [item.as_json() for item in found.items],
        "agency_ids": agency_ids,
    }
    if found.details:
        details.update(found.details)
    return {
        "run_id": run_id,
        "rule": found.rule,
        "severity": found.severity,
        "field": found.field,
        "message": found.message,
        "value": found.value,
        # Set when every item belongs to one agency; filters fall back to details.agency_ids.
        "agency_id": agency_ids[0] if len(agency_ids) == 1 else None,
        "item_ids": found.item_ids,
        "fingerprint": found.fingerprint,
        "details": details,
    }


async def run(session: AsyncSession, *, agency_id: int | None = None, actor: str) -> ValidationRun:
    """Evaluate every rule and store the run with its issues, in the caller's transaction.

    Raises:
        InvalidInputError: `agency_id` names no agency.
    """
    if agency_id is not None and await session.get(Agency, agency_id) is None:
        raise InvalidInputError(
            "the agency does not exist",
            details={"errors": [{"pointer": "/body/agency_id", "message": "unknown agency"}]},
        )
    started = utcnow()
    issues = await evaluate(session, agency_id=agency_id)
    validation_run = ValidationRun(
        started_at=started,
        agency_id=agency_id,
        actor=actor[:200],
        counts=counts(issues).model_dump(),
    )
    session.add(validation_run)
    await session.flush()
    if issues:
        # One executemany, in the sorted order, so issue ids follow errors-first order.
        await session.execute(
            insert(ValidationIssue), [_issue_row(validation_run.id, i) for i in issues]
        )
    validation_run.finished_at = utcnow()
    await session.flush()
    return validation_run
