"""`powercat` / `python -m app.cli`: serve, db, import, validate, export, release, keys, openapi."""

from app.cli.main import main

__all__ = ["main"]
