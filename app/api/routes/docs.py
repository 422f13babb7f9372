"""API documentation pages (Swagger UI, ReDoc) served from packaged assets, no CDN."""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

# fastapi-offline ships the Swagger UI and ReDoc bundles inside its wheel; we serve only its files.
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS_PATH = "/docs-assets"

router = APIRouter(include_in_schema=False)

# ReDoc's bundle shows a logo fetched from its CDN; offline docs show ours instead.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_JS_PATH = "/docs-offline/redoc.standalone.js"


@lru_cache(maxsize=1)
def _offline_redoc_js() -> bytes:
    bundle = (ASSETS_DIR / "redoc.standalone.js").read_bytes()
    return bundle.replace(REDOC_CDN_LOGO, f"{ASSETS_PATH}/favicon.png".encode())


@router.get(REDOC_JS_PATH)
async def get_offline_redoc_js() -> Response:
    """The ReDoc bundle, pointing at no host but this one."""
    return Response(
        _offline_redoc_js(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )


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
        redoc_js_url=REDOC_JS_PATH,
        redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )


def _schema_examples() -> dict[str, list[Any]]:
    """The examples each contract model declares, by model name (the component's name)."""
    found: dict[str, list[Any]] = {}
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        extra = model.model_config.get("json_schema_extra")
        if model.__module__.startswith("app.schemas.") and isinstance(extra, dict):
            examples = extra.get("examples")
            if isinstance(examples, list):
                found[model.__name__] = examples
    return found


def _with_null_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Put back the nulls FastAPI drops from examples (it encodes the document with
    exclude_none): a response example must show `"remarks": null`, as the response does."""
    components = document.get("components", {}).get("schemas", {})
    for name, examples in _schema_examples().items():
        if "examples" in components.get(name, {}):
            components[name]["examples"] = copy.deepcopy(examples)
    return document


def install(app: FastAPI) -> None:
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.include_router(router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return _with_null_examples(generate())

    app.openapi = openapi  # type: ignore[method-assign]
