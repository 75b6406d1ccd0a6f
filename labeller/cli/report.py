"""`labeller report JOB -o report.html`: a job's progress, providers, failures and sample frames
in one self-contained HTML file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from labeller import __version__
from labeller.cli._common import ConfigOpt, DatabaseOpt, console, load, open_store, require_job
from labeller.report import build_gallery, check_output, collect, render_page, write_atomically

__all__ = ["report"]


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int | None], None]]:
    """One transient bar whose label follows the step: reading frames, calls, drawing frames."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = bar.add_task("Reading the job", total=None)

    def update(what: str, done: int, total: int | None) -> None:
        bar.update(task, description=what, completed=done, total=total)

    with bar:
        yield update


def report(
    job: Annotated[str, typer.Argument(help="Job id, as `labeller run` printed it.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file to write (e.g. report.html).")
    ],
    gallery: Annotated[
        int, typer.Option(min=0, max=200, help="Sample frames to redraw for the gallery.")
    ] = 12,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """One self-contained HTML report: progress, throughput, per-provider share, latency, 429s,
    fallbacks and cost, failures grouped by error, and sample pseudo-frames with captions."""
    path = check_output(output)
    store = open_store(load(config, database_url=database_url), create=False)
    row = require_job(store, job)
    with _progress() as update:
        data = collect(store.engine, row, time.time(), update)
        frames = build_gallery(store.engine, row.id, data.spec, gallery, update)
    size = write_atomically(path, render_page(data, frames, version=__version__))
    drawn = sum(1 for item in frames.items if item.image_uri is not None)
    console.print(
        f"report of job {row.id}: {path} ({size / 1024:,.0f} KB, {drawn} sample frames)",
        highlight=False,
    )
    if frames.note:
        console.print(f"[yellow]note:[/] {frames.note}", highlight=False)
