"""HTTP edge: routers under /api/v1, dependencies and problem handlers."""

from fastapi import APIRouter

api_router = APIRouter(prefix="/api/v1")
