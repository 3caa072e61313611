"""The one place where every failure of a command becomes one `error:` line and an exit code.

User mistakes (an `EffrestoreError`, a usage error, a file the system refuses) exit 2; anything else is a
bug in effrestore and exits 1 with its type and message. `--debug` (or EFFRESTORE_DEBUG=1) shows the
traceback instead.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence

import typer
from rich.console import Console
from rich.markup import escape

from effrestore.errors import EffrestoreError
from effrestore.printable import library_message, printable

EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_OVER_BUDGET = 3  # every image restored, but a measured peak passed --mem-budget
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report it
stderr = Console(stderr=True)
# typer vendors click in recent releases and imports it in older ones: take the base class of its usage errors
# from the one it exports rather than from either module path
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
debug = os.environ.get("EFFRESTORE_DEBUG", "") not in ("", "0")


def print_error(message: str) -> None:
    """One `error:` line; whatever it quotes from a file or a name is shown escaped, never obeyed."""
    stderr.print(f"[bold red]error:[/] {escape(printable(message))}", highlight=False, soft_wrap=True)


def print_note(message: str) -> None:
    stderr.print(f"note: {escape(printable(message))}", highlight=False, soft_wrap=True)


class Terminated(BaseException):
    """SIGTERM (what Kubernetes, SLURM and `kill` send) unwinds the stack like Ctrl-C, so partial files are
    removed. Not a KeyboardInterrupt: typer turns those into a silent exit 130."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def run_cli(command: Callable[..., object], args: Sequence[str] | None) -> int:
    """Runs the click command built from the typer app and returns the process exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = command(args=args, prog_name="effrestore", standalone_mode=False)
    except EffrestoreError as exc:
        if debug:
            raise
        print_error(str(exc))
        return EXIT_USER_ERROR
    except ClickException as exc:
        context = getattr(exc, "ctx", None)
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        print_error(exc.format_message() + hint)
        return exc.exit_code
    except Terminated:
        print_error("terminated; no output was left half-written")
        return EXIT_TERMINATED
    except (KeyboardInterrupt, typer.Abort):
        print_error("interrupted; no output was left half-written")
        return EXIT_INTERRUPTED
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        return EXIT_USER_ERROR
    except Exception as exc:
        if debug:
            raise
        print_error(
            f"internal error: {type(exc).__name__}: {library_message(exc)}. This is a bug in effrestore; run "
            "again with --debug for the traceback and report it"
        )
        return EXIT_BUG
    if code == EXIT_INTERRUPTED:  # typer's answer to Ctrl-C inside a command
        print_error("interrupted; no output was left half-written")
    return code if isinstance(code, int) else 0
