"""`labeller jobs` and `labeller show`: which jobs exist, and the whole path of one frame."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from labeller.cli._common import ConfigOpt, DatabaseOpt, console, load, open_store, require_job
from labeller.cli._frame_view import (
    frame_json,
    frame_panel,
    jobs_json,
    jobs_table,
    write_pseudo_frame,
)
from labeller.config import JobSpec
from labeller.errors import UserError
from labeller.store import JobState, frame_detail, list_jobs

__all__ = ["jobs", "show"]


def jobs(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest jobs to list.")] = 20,
    state: Annotated[
        str | None,
        typer.Option(help="Only jobs in this state: " + ", ".join(s.value for s in JobState)),
    ] = None,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List jobs, newest first: state, progress, failures and spend."""
    if state is not None and state not in {s.value for s in JobState}:
        raise UserError(
            f"--state {state!r}: expected one of {', '.join(s.value for s in JobState)}"
        )
    store = open_store(load(config, database_url=database_url), create=False)
    listed = list_jobs(store.engine, limit=limit, state=state)
    if as_json:
        typer.echo(json.dumps(jobs_json(listed), indent=2))
        return
    if not listed:
        where = f" in state {state}" if state else ""
        console.print(f"no jobs{where} in the database")
        return
    console.print(jobs_table(listed))


def show(
    job: Annotated[str, typer.Argument(help="Job id.")],
    frame: Annotated[int, typer.Argument(help="Frame index (0 is the first frame).")],
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            help="Write the pseudo-frame it was captioned from (.png; .jpg/.jpeg for a JPEG job).",
        ),
    ] = None,
    recording: Annotated[
        Path | None,
        typer.Option(help="Read the recording from here (if it moved since the job ran)."),
    ] = None,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One frame's whole path: window, state, caption, and every provider call made for it.

    Each call shows provider, key alias (never the key), status, latency, tokens, cost, error.
    """
    store = open_store(load(config, database_url=database_url), create=False)
    row = require_job(store, job)
    detail = frame_detail(store.engine, job, frame)
    if detail is None:
        last = f"frames 0 to {row.frame_count - 1}" if row.frame_count else "no frames"
        raise UserError(f"frame {frame}: job {job} has {last}")
    written = None
    if image is not None:
        spec = JobSpec.model_validate_json(row.spec)
        written = write_pseudo_frame(job, spec, detail.frame, image, recording)
    if as_json:
        typer.echo(json.dumps(frame_json(row, detail, written), indent=2))
        return
    console.print(frame_panel(row, detail, time.time()))
    if written is not None:
        console.print(written.describe(), highlight=False)
