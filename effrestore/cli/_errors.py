"""One place where user-facing errors become a one-line message and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from effrestore.errors import EffrestoreError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_USER_ERROR = 2
stderr = Console(stderr=True)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turns an `EffrestoreError` raised by `command` into `error: <message>` and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except EffrestoreError as exc:
            stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper
