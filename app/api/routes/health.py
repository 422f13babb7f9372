"""Liveness and readiness probes and the Prometheus metrics, outside /api/v1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from app import __version__
from app.api import metrics
from app.api.deps import EngineDep
from app.api.problems import problem_doc, problem_response
from app.db import migrations
from app.db.engine import backend_name
from app.schemas.common import Health
from app.services.status import CatalogueState, catalogue_state

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


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Metrics",
    responses={
        200: {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def get_metrics(engine: EngineDep) -> PlainTextResponse:
    """Requests by method, route template and status, with their durations and how many are in
    progress (every worker's, summed, under `powercat serve --workers N`); the catalogue's state:
    the change feed's head position, when the last import and the last whole-catalogue
    validation finished, and that validation's issues by severity. `powercat_database_up` is 0,
    and the catalogue's figures are absent, when the database did not answer this scrape; the
    answer is still 200, so that the request figures are never lost with the database."""
    try:
        async with AsyncSession(engine) as session:
            state: CatalogueState | None = await asyncio.wait_for(
                catalogue_state(session), timeout=READY_TIMEOUT_S
            )
    except Exception as exc:  # a scrape reports the database down rather than failing
        log.warning("metrics could not read the catalogue: %s", exc.__class__.__name__)
        state = None
    return PlainTextResponse(metrics.render(_Catalogue(state)), media_type=metrics.CONTENT_TYPE)


class _Catalogue:
    """The catalogue's figures for one scrape, as a prometheus_client collector."""

    def __init__(self, state: CatalogueState | None) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("powercat_build_info", "the running version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        state = self.state
        yield GaugeMetricFamily(
            "powercat_database_up",
            "1 when this scrape read the catalogue's state from the database",
            value=0 if state is None else 1,
        )
        if state is None:
            return
        if state.change_head is not None:
            yield GaugeMetricFamily(
                "powercat_change_feed_head",
                "position of the newest change in the feed (GET /api/v1/changes)",
                value=state.change_head,
            )
        if state.last_import_at is not None:
            yield GaugeMetricFamily(
                "powercat_last_import_timestamp_seconds",
                "when the newest import that wrote items finished (Unix time)",
                value=state.last_import_at.timestamp(),
            )
        if state.validated_at is not None:
            yield GaugeMetricFamily(
                "powercat_last_validation_timestamp_seconds",
                "when the newest whole-catalogue validation run finished (Unix time)",
                value=state.validated_at.timestamp(),
            )
            issues = GaugeMetricFamily(
                "powercat_validation_issues",
                "issues the newest whole-catalogue validation run found, by severity",
                labels=["severity"],
            )
            for severity, count in sorted(state.issues.items()):
                issues.add_metric([severity], count)
            yield issues
