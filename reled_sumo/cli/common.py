"""Shared CLI plumbing: error handling (no tracebacks for user errors), logging, console."""
from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
from typing import Any, Callable, Iterator, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.measure import Measurement
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from reled_sumo.errors import RelEdError

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
OS_ERROR_EXIT = 74  # sysexits' EX_IOERR: a file system or other operating-system error


# ------------------------------------------------------------ shared options (one definition each)
def scenario_option(required: bool = True, help: str = "Built scenario name or folder.") -> Any:
    """``--scenario/-s``: a built scenario's name or folder."""
    return typer.Option(... if required else None, "--scenario", "-s", help=help)


def agents_option(default: int | None = None) -> Any:
    """``--agents N``: control only the first N agents of the scenario (the env's ``max_agents``)."""
    return typer.Option(default, "--agents", min=1, help="Control only the first N agents (the env's max_agents).")


def seed_option(default: int = 0, help: str = "Seed (SUMO, policies).") -> Any:
    return typer.Option(default, "--seed", help=help)


def json_option(help: str = "Also print one JSON line per row.") -> Any:
    return typer.Option(False, "--json", help=help)


def os_error_message(exc: OSError) -> str:
    """One line for an OSError: what failed, on which path, and why."""
    why = exc.strerror or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = f" ({' -> '.join(paths)})" if paths else ""
    detail = "" if exc.strerror else f": {exc}"
    return f"operating-system error{where}: {why}{detail}"


def guarded(fn: F) -> F:
    """Turn the library's own exceptions and OS errors into a one-paragraph message and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RelEdError as exc:
            err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True, highlight=False)
            raise typer.Exit(code=exc.exit_code) from None
        except OSError as exc:  # unwritable folder, full disk, a file where a folder should be...
            err_console.print(f"[bold red]error:[/bold red] {escape(os_error_message(exc))}", soft_wrap=True,
                              highlight=False)
            raise typer.Exit(code=OS_ERROR_EXIT) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM acts like Ctrl-C: the work in progress unwinds through its
    ``finally`` blocks (a half-built scenario folder is removed) and the exit code is 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err_console,
                        show_path=False, rich_tracebacks=False)], force=True)


# ------------------------------------------------------------------ tables
def show_table(table: Table, out: Console | None = None) -> None:
    """Print ``table`` whole. On a terminal it is fitted to the terminal's width: headers and cells
    wrap (at spaces; ``_`` in a header counts as one), never cut to "…". Anywhere else (a pipe, a
    file) it is plain text: aligned columns, every header and cell in full, no box drawing."""
    out = out or console
    if out.is_terminal:
        fit_table(table)
        need = max(Measurement.get(out, out.options, table).minimum,
                   sum(c.min_width or 1 for c in table.columns) + 2 * len(table.columns))
        if need > out.width:  # whole words do not fit: fold them
            for col in table.columns:
                col.min_width = None
        out.print(table)
    else:
        out.print(plain_table(table), markup=False, highlight=False, soft_wrap=True, emoji=False)


MAX_WORD = 24  # a longer word in a cell (a long method name) folds over lines instead of widening its column


def fit_table(table: Table) -> Table:
    """Compact box and padding; no column narrower than its longest header word or (up to MAX_WORD)
    cell word, so that words are wrapped whole; anything longer folds, nothing is cut."""
    table.box, table.pad_edge, table.padding, table.collapse_padding = box.SIMPLE_HEAD, False, (0, 1), True
    for col in table.columns:
        if isinstance(col.header, str):
            col.header = col.header.replace("_", " ")
        words = [len(w) for w in _plain(col.header).split()]
        words += [min(len(w), MAX_WORD) for v in col._cells for w in _plain(v).split()]
        col.overflow, col.no_wrap, col.max_width = "fold", False, None
        col.min_width = max(words, default=1)
    return table


def _plain(cell: object) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)


def plain_table(table: Table) -> str:
    """The table as plain text: a title line, a header line (if shown), one line per row."""
    cols = [[_plain(c.header)] + [_plain(v) for v in c._cells] for c in table.columns]
    widths = [max(len(line) for v in col for line in v.splitlines() or [""]) for col in cols]
    lines = [_plain(table.title)] if table.title else []
    first = 0 if table.show_header else 1
    for i in range(first, table.row_count + 1):
        cells = [col[i].replace("\n", " ") for col in cols]
        lines.append("  ".join(v.rjust(w) if c.justify == "right" else v.ljust(w)
                               for v, w, c in zip(cells, widths, table.columns)).rstrip())
    return "\n".join(lines)
