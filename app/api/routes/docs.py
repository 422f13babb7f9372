"""API documentation pages (Swagger UI, ReDoc) served from packaged assets, no CDN."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# fastapi-offline ships the Swagger UI and ReDoc bundles inside its wheel; we serve only its files.
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS_PATH = "/docs-assets"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def get_swagger_ui() -> HTMLResponse:
    """Swagger UI."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="powercat API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
    )


@router.get("/redoc")
async def get_redoc() -> HTMLResponse:
    """ReDoc."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="powercat API",
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )


def install(app: FastAPI) -> None:
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.include_router(router)
