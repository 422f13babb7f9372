"""Releases (发布版本): freeze the catalogue under a name, list and read them, diff two of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from app.api.deps import AdminDep, ReadSessionDep, SessionDep
from app.api.problems import PROBLEM_RESPONSES, WRITE_PROBLEM_RESPONSES, problem_doc
from app.db.sqlite import write_transaction
from app.schemas.releases import RELEASE_NAME_PATTERN, ReleaseCreate, ReleaseDiff, ReleaseRead
from app.services import releases

router = APIRouter(prefix="/releases", tags=["releases"])

Name = Annotated[
    str,
    Path(min_length=1, max_length=100, pattern=RELEASE_NAME_PATTERN, description="release name"),
]
DiffSide = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        pattern=RELEASE_NAME_PATTERN,
        description="release name, or `current` for the catalogue now",
    ),
]

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("no release has this name")}


@router.post(
    "",
    response_model=ReleaseRead,
    status_code=201,
    summary="Create a release",
    responses={
        **WRITE_PROBLEM_RESPONSES,
        409: problem_doc(
            "the name is taken (`release.exists`), or error-severity validation issues block the "
            "release (`release.blocked`, with `counts`), or items changed meanwhile"
        ),
    },
)
async def create_release(
    session: SessionDep, body: ReleaseCreate, actor: AdminDep, response: Response
) -> ReleaseRead:
    """Freeze the current catalogue under a new name (admin key); refused on validation errors."""
    # The write lock up front keeps SQLite writers out between the snapshot and its check.
    with write_transaction():
        release = await releases.create(session, data=body, actor=actor)
    response.headers["Location"] = f"/api/v1/releases/{release.name}"
    return release


@router.get(
    "", response_model=list[ReleaseRead], summary="List releases", responses=PROBLEM_RESPONSES
)
async def list_releases(session: ReadSessionDep) -> list[ReleaseRead]:
    """Every release, oldest first."""
    return await releases.list_releases(session)


@router.get(
    "/{name}",
    response_model=ReleaseRead,
    summary="Get a release",
    responses={**PROBLEM_RESPONSES, **NOT_FOUND},
)
async def get_release(session: ReadSessionDep, name: Name) -> ReleaseRead:
    """One release: when, by whom, how many items, and whether it was forced and why."""
    return await releases.get(session, name=name)


@router.get(
    "/{base}/diff/{target}",
    response_model=ReleaseDiff,
    summary="Diff two releases",
    responses={**PROBLEM_RESPONSES, 404: problem_doc("a name is neither a release nor current")},
)
async def diff_releases(session: ReadSessionDep, base: DiffSide, target: DiffSide) -> ReleaseDiff:
    """Items added, changed (field by field) and withdrawn from `base` to `target`."""
    return await releases.diff(session, base=base, target=target)
