"""Console entry point: registers every command module, turns failures into one line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

# Importing a command module registers its commands on `cli`.
from app.cli import INTERRUPTED, db, export, imports, keys, release, validate  # noqa: F401
from app.cli.base import CliError, cli, describe, log, print_error


def main() -> None:
    """Run `powercat`: one line and a non-zero exit on any failure, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Not standalone: click's usage errors come here, to be told in one line, rather than
        # printed by Typer as a framed block. An explicit exit (typer.Exit) is returned.
        outcome = cli(standalone_mode=False)
    except typer.TyperException as exc:
        # Click's errors, as Typer carries them: a usage error knows its command.
        if type(exc).__name__ == "NoArgsIsHelpError":
            # `powercat`, `powercat keys`: given nothing, the help. Typer prints it with rich as
            # the error is made, leaving the message empty; without rich the message is the help.
            if exc.format_message():
                sys.stdout.write(exc.format_message() + "\n")
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else _command_path(sys.argv[1:])
        print_error(" ".join(exc.format_message().split()) + f" (see '{path} --help')")
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except KeyboardInterrupt:  # one that falls outside Typer's own catch (see below)
        outcome = INTERRUPTED
    except CliError as exc:
        print_error(exc.message)
        sys.exit(exc.exit_code)
    except Exception as exc:
        log.debug("command failed", exc_info=exc)
        print_error(describe(exc))
        sys.exit(1)
    if outcome == INTERRUPTED:
        # Typer turns a KeyboardInterrupt in a command into this exit code and says nothing; no
        # command of ours exits so by itself. What a command had begun is rolled back with its
        # transaction (an import: the file it was writing; those reported before stay).
        print_error("interrupted")
    if isinstance(outcome, int) and outcome:
        sys.exit(outcome)


def _command_path(words: list[str]) -> str:
    """`powercat export` for `powercat export --format`: the commands named before the first
    option. An option that lacks its value fails before click makes a context to say so."""
    command = typer.main.get_command(cli)
    # Named as click names the program in its own hints.
    called = Path(sys.argv[0]).name
    path = ["python -m app.cli" if called == "__main__.py" else called]
    for word in words:
        found = getattr(command, "commands", {}).get(word)
        if found is None:
            break
        path.append(word)
        command = found
    return " ".join(path)
