"""Route modules, one per resource, gathered under /api/v1."""

from fastapi import APIRouter

from app.api.routes import changes, imports, items, reference


def api_router() -> APIRouter:
    """A fresh /api/v1 router (fresh, so that building several apps never duplicates routes)."""
    router = APIRouter(prefix="/api/v1")
    router.include_router(items.router)
    router.include_router(changes.router)
    router.include_router(imports.router)
    router.include_router(reference.router)
    return router
