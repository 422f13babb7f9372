"""Liveness and readiness probes, outside /api/v1."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import EngineDep
from app.api.problems import problem_doc, problem_response
from app.db import migrations
from app.db.engine import backend_name
from app.schemas.common import Health

log = logging.getLogger("powercat.health")

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 5.0


@router.get("/healthz", response_model=Health, summary="Liveness")
async def get_health() -> Health:
    """The process is up and serving; says nothing about the database."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness",
    responses={503: problem_doc("database unreachable or not migrated to the head revision")},
)
async def get_readiness(engine: EngineDep) -> Health | JSONResponse:
    """The database answers and is migrated to the revision this code expects."""
    try:
        current = await asyncio.wait_for(
            migrations.current_revisions(engine), timeout=READY_TIMEOUT_S
        )
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readiness check failed: %s", exc.__class__.__name__)
        return problem_response(
            503, "database.unavailable", "the database is unreachable", headers={"Retry-After": "5"}
        )
    heads = migrations.head_revisions()
    if set(current) != set(heads):
        return problem_response(
            503,
            "database.not_migrated",
            "the database is not at the head revision: run `powercat db upgrade`",
            headers={"Retry-After": "5"},
        )
    return Health(status="ok", database=backend_name(engine), revision=",".join(current))
