"""Console entry point: registers every command module, turns failures into one line."""

from __future__ import annotations

import logging
import sys

# Importing a command module registers its commands on `cli`.
from app.cli import db, export, imports, keys, release, validate  # noqa: F401
from app.cli.base import CliError, cli, describe, log, print_error


def main() -> None:
    """Run `powercat`: one line and a non-zero exit on any failure, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Standalone mode: usage errors print click's usage line and exit 2.
        cli()
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)
    except CliError as exc:
        print_error(exc.message)
        sys.exit(exc.exit_code)
    except Exception as exc:
        log.debug("command failed", exc_info=exc)
        print_error(describe(exc))
        sys.exit(1)
