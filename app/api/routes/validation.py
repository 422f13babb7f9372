"""Catalogue validation: the rules, stored runs and their issues (校验)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.deps import AdminDep, SessionDep, SettingsDep
from app.api.problems import PROBLEM_RESPONSES, WRITE_PROBLEM_RESPONSES, problem_doc
from app.api.responses import NEXT_LINK_HEADER, cursor_query, model_response, next_link
from app.db.sqlite import write_transaction
from app.schemas.common import Page
from app.schemas.validation import (
    RULE_PATTERN,
    SeverityLiteral,
    StoredValidationIssueRead,
    ValidationCounts,
    ValidationIssueFilter,
    ValidationRuleRead,
    ValidationRunCreate,
    ValidationRunCreated,
    ValidationRunRead,
)
from app.services import audit
from app.services.validation import runner, store

router = APIRouter(tags=["validation"])

RUN_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("no validation run has this id")}
# Route names are the function names: url_path_for builds the links from them.
ISSUES_ROUTE = "list_validation_issues"


def _issues_path(request: Request) -> str:
    return str(request.app.url_path_for(ISSUES_ROUTE))


@router.get(
    "/validation/rules",
    response_model=list[ValidationRuleRead],
    summary="List validation rules",
    responses=PROBLEM_RESPONSES,
)
async def list_validation_rules() -> list[ValidationRuleRead]:
    """Every rule: its id, severity, what it checks and how to fix what it finds."""
    return store.list_rules()


@router.post(
    "/validation-runs",
    response_model=ValidationRunCreated,
    status_code=201,
    summary="Run validation",
    responses=WRITE_PROBLEM_RESPONSES,
)
async def create_validation_run(
    request: Request,
    response: Response,
    session: SessionDep,
    admin: AdminDep,
    body: ValidationRunCreate | None = None,
) -> ValidationRunCreated:
    """Run every rule over the catalogue (or one agency) and store the issues found (admin)."""
    agency_id = body.agency_id if body is not None else None
    with write_transaction():
        stored = await runner.run(session, agency_id=agency_id, actor=admin.name)
        # In the run's transaction: a run that fails leaves neither the run nor its entry.
        await audit.record(
            session,
            admin,
            action="validation_run.create",
            target_type="validation_run",
            target_id=stored.id,
            change={"agency_id": agency_id, "counts": dict(stored.counts)},
        )
    response.headers["Location"] = str(
        request.app.url_path_for("get_validation_run", id=str(stored.id))
    )
    return ValidationRunCreated(
        id=stored.id,
        counts=ValidationCounts(**stored.counts),
        issues_url=store.issues_url(_issues_path(request), stored.id),
    )


@router.get(
    "/validation-runs/{id}",
    response_model=ValidationRunRead,
    summary="Get a validation run",
    responses={**PROBLEM_RESPONSES, **RUN_NOT_FOUND},
)
async def get_validation_run(
    request: Request,
    session: SessionDep,
    id: Annotated[int, Path(ge=1, le=2_147_483_647, description="the run's id")],
) -> ValidationRunRead:
    """A stored run: counts, and the problems new or fixed since the previous run of its scope."""
    return await store.get_run(session, run_id=id, issues_path=_issues_path(request))


@router.get(
    "/validation/issues",
    response_model=Page[StoredValidationIssueRead],
    summary="List validation issues",
    responses={
        **PROBLEM_RESPONSES,
        404: problem_doc(
            "No validation run has `run_id`; or the page is empty and no agency has the id "
            "`agency`, or no item the id `item_id` (not an empty page: an agency or item "
            "without issues gets one)"
        ),
        200: {"description": "A page of issues", "headers": NEXT_LINK_HEADER},
    },
)
async def list_validation_issues(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    run_id: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="default: the newest run covering")
    ] = None,
    rule: Annotated[
        str | None, Query(max_length=100, pattern=RULE_PATTERN, description="rule id")
    ] = None,
    severity: Annotated[SeverityLiteral | None, Query(description="error|warning|info")] = None,
    agency: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="agency id")] = None,
    item_id: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="item id")] = None,
    fingerprint: Annotated[
        str | None, Query(pattern=r"^[0-9a-f]{64}$", description="one problem across runs")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    cursor: Annotated[str | None, cursor_query("next_cursor of the previous page")] = None,
) -> Response:
    """Issues of a stored run (default: the newest run covering the filters), errors first."""
    filters = ValidationIssueFilter(
        run_id=run_id,
        rule=rule,
        severity=severity,
        agency=agency,
        item_id=item_id,
        fingerprint=fingerprint,
    )
    page = await store.list_issues(
        session, filters=filters, limit=limit, cursor=cursor, secret=settings.cursor_secret
    )
    return model_response(page, next_link(request, page.next_cursor))
