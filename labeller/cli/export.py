"""`labeller export`: a job's captions (and optionally its audit trail) as a file for training."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from labeller.cli._common import (
    ConfigOpt,
    DatabaseOpt,
    console,
    err_console,
    load,
    open_store,
    require_job,
)
from labeller.cli._views import counting_progress
from labeller.jobs import EXPORT_SUFFIXES, export_format, export_job, export_rows

__all__ = ["export"]

_FORMATS = ", ".join(EXPORT_SUFFIXES)
#: Job states in which no more frames will finish.
_ENDED = ("done", "failed", "cancelled")


def export(
    job: Annotated[str, typer.Argument(help="Job id.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help=f"Output file; its extension picks the format: {_FORMATS}."
        ),
    ],
    include_failed: Annotated[
        bool,
        typer.Option(
            "--include-failed", help="Also failed frames, with `state` and `error` columns."
        ),
    ] = False,
    attempts: Annotated[
        bool,
        typer.Option(
            "--attempts",
            help="Also every provider call: to NAME.attempts.EXT beside the file, or the "
            "/attempts group of an .h5 file.",
        ),
    ] = False,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Write the job's captions with their frame time windows, in frame order."""
    export_format(output)  # an unknown extension fails before the database is opened
    store = open_store(load(config, database_url=database_url), create=False)
    row = require_job(store, job)
    if row.state not in _ENDED:
        err_console.print(
            f"[yellow]job {job} is {row.state}: the export holds the frames finished so far"
        )
    total = export_rows(store.engine, job, include_failed=include_failed, attempts=attempts)
    # A bar only on a terminal: piped output gets the summary lines alone.
    bar = counting_progress(console, "Exporting", total, "rows")
    with bar if console.is_terminal else nullcontext(_ignore) as advance_to:
        result = export_job(
            store.engine,
            job,
            output,
            include_failed=include_failed,
            attempts=attempts,
            on_rows=advance_to,
        )
    store.engine.dispose()
    what = "frames" if include_failed else "captions"
    console.print(f"wrote {result.frames:,} {what} to {output}", highlight=False)
    if attempts:
        where = result.files[1] if len(result.files) > 1 else f"{output} (group /attempts)"
        console.print(f"wrote {result.attempts:,} attempts to {where}", highlight=False)


def _ignore(_rows: int) -> None:
    pass
