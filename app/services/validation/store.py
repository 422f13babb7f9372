"""Stored validation runs and issues: filtered, paginated listing and run-to-run comparison."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import json_array_contains
from app.enums import Severity
from app.errors import InvalidCursorError, ItemNotFoundError, ValidationRunNotFoundError
from app.models import Agency, Item, ValidationIssue, ValidationRun
from app.schemas.common import Page
from app.schemas.validation import (
    StoredValidationIssueRead,
    ValidationCounts,
    ValidationIssueFilter,
    ValidationIssueItemRef,
    ValidationRuleRead,
    ValidationRunAgencyRef,
    ValidationRunRead,
)
from app.services import cursors, reference
from app.services.validation import rules

ISSUES_CURSOR = "validation_issues"


def list_rules() -> list[ValidationRuleRead]:
    """Every rule with its explanation and fix, in the order of the checks table."""
    return [
        ValidationRuleRead(
            id=rule.id,
            check=rule.check,
            severity=rule.severity.value,
            fields=list(rule.fields),
            title=rule.title,
            explanation=rule.explanation,
            fix=rule.fix,
        )
        for rule in rules.RULES
    ]


async def _get_run(session: AsyncSession, run_id: int) -> ValidationRun:
    found = await session.get(ValidationRun, run_id)
    if found is None:
        raise ValidationRunNotFoundError(f"validation run {run_id} does not exist")
    return found


async def _latest_run_id(session: AsyncSession, *, agency_id: int | None) -> int | None:
    """The newest run that covers the listing: a whole-catalogue run, or one of that agency."""
    scope: ColumnElement[bool] = ValidationRun.agency_id.is_(None)
    if agency_id is not None:
        scope = or_(scope, ValidationRun.agency_id == agency_id)
    stmt = select(ValidationRun.id).where(scope).order_by(ValidationRun.id.desc()).limit(1)
    return await session.scalar(stmt)


async def _resolve(
    session: AsyncSession, filters: ValidationIssueFilter, cursor: str | None, secret: str
) -> tuple[int | None, int]:
    """(run to list, last issue id already listed)."""
    if cursor:
        run_id, after = cursors.decode_key(cursor, kind=ISSUES_CURSOR, secret=secret, length=2)
        if filters.run_id is not None and filters.run_id != run_id:
            raise InvalidCursorError("the cursor belongs to another listing")
        return run_id, after
    if filters.run_id is not None:
        return (await _get_run(session, filters.run_id)).id, 0
    return await _latest_run_id(session, agency_id=filters.agency), 0


async def list_issues(
    session: AsyncSession,
    *,
    filters: ValidationIssueFilter,
    limit: int,
    cursor: str | None,
    secret: str,
) -> Page[StoredValidationIssueRead]:
    """One page of a stored run's issues (default: the newest run covering the filters).

    Raises:
        ValidationRunNotFoundError: `run_id` names no run.
        AgencyNotFoundError, ItemNotFoundError: the page is empty and `agency` or `item_id`
            names none.
        InvalidCursorError: the cursor is not one this listing made.
    """
    run_id, after = await _resolve(session, filters, cursor, secret)
    if run_id is None:
        await _require_filtered(session, filters)
        return Page[StoredValidationIssueRead](items=[], next_cursor=None)
    dialect = session.get_bind().dialect.name
    stmt = select(ValidationIssue).where(
        ValidationIssue.run_id == run_id, ValidationIssue.id > after
    )
    if filters.rule is not None:
        stmt = stmt.where(ValidationIssue.rule == filters.rule)
    if filters.severity is not None:
        stmt = stmt.where(ValidationIssue.severity == Severity(filters.severity))
    if filters.fingerprint is not None:
        stmt = stmt.where(ValidationIssue.fingerprint == filters.fingerprint)
    if filters.agency is not None:
        stmt = stmt.where(
            or_(
                ValidationIssue.agency_id == filters.agency,
                and_(
                    ValidationIssue.agency_id.is_(None),
                    json_array_contains(
                        dialect, ValidationIssue.details, filters.agency, key="agency_ids"
                    ),
                ),
            )
        )
    if filters.item_id is not None:
        stmt = stmt.where(json_array_contains(dialect, ValidationIssue.item_ids, filters.item_id))
    found = list((await session.scalars(stmt.order_by(ValidationIssue.id).limit(limit + 1))).all())
    if not found:
        await _require_filtered(session, filters)
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        next_cursor = cursors.encode([run_id, found[-1].id], kind=ISSUES_CURSOR, secret=secret)
    first_seen = await _first_seen(session, {i.fingerprint for i in found}, run_id)
    return Page[StoredValidationIssueRead](
        items=[_issue_read(i, *first_seen[i.fingerprint]) for i in found],
        next_cursor=next_cursor,
    )


async def _require_filtered(session: AsyncSession, filters: ValidationIssueFilter) -> None:
    """An empty page filtered by an agency or item that does not exist is a 404, not "no issues"
    (a run, too, is a 404 when it does not exist)."""
    if filters.agency is not None:
        await reference.require_agency(session, filters.agency)
    if filters.item_id is not None:
        found = await session.scalar(select(Item.id).where(Item.id == filters.item_id))
        if found is None:
            raise ItemNotFoundError(f"item {filters.item_id} does not exist")


async def _first_seen(
    session: AsyncSession, fingerprints: set[str], run_id: int
) -> dict[str, tuple[int, Any]]:
    """fingerprint → (earliest run up to `run_id` that reported it, when that run started)."""
    if not fingerprints:
        return {}
    earliest = (
        select(
            ValidationIssue.fingerprint.label("fingerprint"),
            func.min(ValidationIssue.run_id).label("run_id"),
        )
        .where(ValidationIssue.fingerprint.in_(fingerprints), ValidationIssue.run_id <= run_id)
        .group_by(ValidationIssue.fingerprint)
        .subquery()
    )
    stmt = select(earliest.c.fingerprint, earliest.c.run_id, ValidationRun.started_at).join(
        ValidationRun, ValidationRun.id == earliest.c.run_id
    )
    return {fp: (rid, at) for fp, rid, at in (await session.execute(stmt)).all()}


def _issue_read(issue: ValidationIssue, first_run: int, first_at: Any) -> StoredValidationIssueRead:
    details = issue.details or {}
    return StoredValidationIssueRead(
        id=issue.id,
        run_id=issue.run_id,
        rule=issue.rule,
        severity=issue.severity.value,
        message=issue.message,
        field=issue.field,
        items=[ValidationIssueItemRef(**item) for item in details.get("items", [])],
        value=issue.value,
        fingerprint=issue.fingerprint,
        first_seen_run_id=first_run,
        first_seen_at=first_at,
    )


async def _fingerprints(session: AsyncSession, run_id: int) -> set[str]:
    stmt = select(ValidationIssue.fingerprint).where(ValidationIssue.run_id == run_id).distinct()
    return set((await session.scalars(stmt)).all())


async def get_run(session: AsyncSession, *, run_id: int, issues_path: str) -> ValidationRunRead:
    """A stored run with its counts and what changed since the previous run of the same scope.

    Raises:
        ValidationRunNotFoundError: no run has this id.
    """
    found = await _get_run(session, run_id)
    agency = None
    if found.agency_id is not None:
        name = await session.scalar(select(Agency.name).where(Agency.id == found.agency_id))
        agency = ValidationRunAgencyRef(id=found.agency_id, name=name or "")
    previous_id = await session.scalar(
        select(ValidationRun.id)
        .where(
            ValidationRun.id < found.id,
            ValidationRun.agency_id.is_not_distinct_from(found.agency_id),
        )
        .order_by(ValidationRun.id.desc())
        .limit(1)
    )
    current = await _fingerprints(session, found.id)
    previous = await _fingerprints(session, previous_id) if previous_id is not None else set()
    return ValidationRunRead(
        id=found.id,
        started_at=found.started_at,
        finished_at=found.finished_at,
        agency=agency,
        actor=found.actor,
        counts=ValidationCounts(**found.counts),
        issues_url=issues_url(issues_path, found.id),
        previous_run_id=previous_id,
        new_fingerprints=sorted(current - previous),
        fixed_fingerprints=sorted(previous - current),
    )


def issues_url(issues_path: str, run_id: int) -> str:
    """Where a run's issues are listed."""
    return f"{issues_path}?run_id={run_id}"
