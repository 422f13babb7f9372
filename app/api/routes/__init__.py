"""Route modules, one per resource, gathered under /api/v1."""

from fastapi import APIRouter, Depends

from app.api.deps import check_query_parameters, require_reader
from app.api.routes import (
    audit,
    changes,
    codes,
    exports,
    imports,
    items,
    reference,
    releases,
    validation,
)


def api_router() -> APIRouter:
    """A fresh /api/v1 router (fresh, so that building several apps never duplicates routes)."""
    # Every /api/v1 route, read or write, honours POWERCAT_PUBLIC_READ and rejects bad keys, and
    # then refuses query parameters it does not take, or takes once.
    router = APIRouter(
        prefix="/api/v1",
        dependencies=[Depends(require_reader), Depends(check_query_parameters)],
    )
    router.include_router(items.router)
    router.include_router(changes.router)
    router.include_router(imports.router)
    router.include_router(reference.router)
    router.include_router(codes.router)
    router.include_router(validation.router)
    router.include_router(releases.router)
    router.include_router(exports.router)
    router.include_router(audit.router)
    return router
