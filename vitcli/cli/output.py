"""The one output sink: results to stdout (a table for people, JSON lines for pipes), progress to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from vitcli import __version__

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON object per line on stdout, always tagged with the vitcli version."""
    sys.stdout.write(json.dumps({**obj, "vitcli_version": __version__}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """A progress or status line for people, on stderr."""
    stderr.print(message, markup=False, highlight=False)


def print_table(title: str, rows: Iterable[tuple[Any, ...]], columns: tuple[str, ...]) -> None:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    stdout.print(table)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Any]:
    """A rich progress bar on stderr, silent when stderr is not a terminal. Yields update(n=1, **fields)."""
    if not stderr.is_terminal:
        yield lambda advance=1, **fields: None
        return
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr, transient=False) as p:
        task = p.add_task(description, total=total, info="")

        def update(advance: int = 1, info: str = "") -> None:
            p.update(task, advance=advance, info=info)

        yield update


def quiet_libraries() -> None:
    """Silence library progress bars and info logs: stderr carries our progress only. bitsandbytes, imported by peft
    and transformers whatever the run, warns on every CPU with AVX512-BF16 that an optional 4-bit CPU kernel is
    missing; vitcli never runs 4-bit on CPU, so its warnings are kept to errors."""
    import logging

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
