"""The one place where every failure of a command becomes one `error:` line and an exit code.

User mistakes (an `EffrestoreError`, a usage error, a file the system refuses) exit 2; anything else is a
bug in effrestore and exits 1 with its type and message. `--debug` (or EFFRESTORE_DEBUG=1) shows the
traceback instead.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import warnings
from collections.abc import Callable, Sequence

import typer
from rich.console import Console
from rich.markup import escape

from effrestore._atomic import remove_open_partials
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


def shown(text: object) -> str:
    """A name, path or message for rich output: control characters escaped, brackets not read as markup."""
    return escape(printable(str(text)))


def print_error(message: str) -> None:
    """One `error:` line; whatever it quotes from a file or a name is shown escaped, never obeyed."""
    stderr.print(f"[bold red]error:[/] {shown(message)}", highlight=False, soft_wrap=True)


def print_note(message: str) -> None:
    stderr.print(f"note: {shown(message)}", highlight=False, soft_wrap=True)


class Terminated(BaseException):
    """SIGTERM (what Kubernetes, SLURM and `kill` send) unwinds the stack like Ctrl-C, so partial files are
    removed. Not a KeyboardInterrupt: typer turns those into a silent exit 130."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


TERMINATE_GRACE_S = 3.0  # for the interpreter to unwind after SIGTERM before the watcher ends the process


class _TerminationWatch:
    """Python runs a signal handler only between bytecodes, so a SIGTERM that arrives during one long native
    call (a runtime's inference) would wait for the call to end. The signal's wake-up byte reaches this
    thread at once; if the interpreter has not unwound within the grace period, the thread removes the
    temporary files and ends the process with the status a termination gets."""

    def __init__(self) -> None:
        self.unwound = threading.Event()
        read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(read,), daemon=True, name="sigterm-watch").start()

    def _watch(self, read: int) -> None:
        while True:
            signals = os.read(read, 64)
            if signal.SIGTERM in signals and not self.unwound.wait(TERMINATE_GRACE_S):
                remove_open_partials()
                print_error("terminated during a backend call; no output was left half-written")
                os._exit(EXIT_TERMINATED)


class _NoteHandler(logging.Handler):
    """Libraries' log records (tifffile: "invalid circular reference") as one-line notes."""

    def emit(self, record: logging.LogRecord) -> None:
        print_note(f"{record.name}: {record.getMessage()}")


def _warnings_as_notes(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    print_note(str(message))


def run_cli(command: Callable[..., object], args: Sequence[str] | None) -> int:
    """Runs the click command built from the typer app and returns the process exit code. Whatever the
    libraries say on the way (Python warnings, log records) is printed as `note:` lines."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if not debug:
        warnings.showwarning = _warnings_as_notes
        logging.basicConfig(level=logging.WARNING, handlers=[_NoteHandler()], force=True)
    watch = _TerminationWatch()
    try:
        return _run_command(command, args)
    finally:
        watch.unwound.set()


def _run_command(command: Callable[..., object], args: Sequence[str] | None) -> int:
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
