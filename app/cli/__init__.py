"""`powercat` / `python -m app.cli`: serve, db, import, validate, export, release, keys, openapi."""

from __future__ import annotations

import sys

INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)


def main() -> None:
    """Run `powercat` (app/cli/console.py).

    The commands are loaded here rather than as this package is imported, so that a Ctrl-C while
    they load (most of a second: FastAPI, SQLAlchemy, the drivers) ends like one a moment later,
    with one line and exit 130, not a traceback from whichever import it fell in.
    """
    try:
        from app.cli.console import main as run
    except KeyboardInterrupt:
        sys.stderr.write("powercat: error: interrupted\n")
        sys.exit(INTERRUPTED)
    run()


__all__ = ["INTERRUPTED", "main"]
