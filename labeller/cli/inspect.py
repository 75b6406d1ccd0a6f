"""`labeller inspect`: what a recording holds, before a job is planned on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labeller.cli._common import ConfigOpt, console, load
from labeller.cli._views import counting_progress
from labeller.recordings import inspect_recording

__all__ = ["inspect"]


def inspect(
    recording: Annotated[Path, typer.Argument(help="HDF5 event recording.", metavar="RECORDING")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    format_name: Annotated[
        str | None,
        typer.Option("--format", help="Force a layout: dsec, prophesee, mvsec, e2vid, m3ed."),
    ] = None,
    camera: Annotated[str | None, typer.Option(help="left or right (MVSEC, M3ED).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Format, sensor size, events, duration, event rates, and whether timestamps are sorted."""
    overrides = {k: v for k, v in (("format", format_name), ("camera", camera)) if v is not None}
    settings = load(config, recording=overrides or None)
    if as_json:
        info = inspect_recording(recording, settings.recording)
        typer.echo(json.dumps(info.as_json(), indent=2))
        return
    with counting_progress(console, "Scanning", None, "events") as advance_to:
        info = inspect_recording(recording, settings.recording, progress=advance_to)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    sorted_text = (
        "yes" if info.sorted else f"[red]no[/]: first out of order at event {info.first_unsorted:,}"
    )
    for name, value in (
        ("file", str(info.path)),
        ("format", info.format),
        ("sensor", f"{info.width} x {info.height}"),
        ("events", f"{info.events:,}"),
        ("duration", f"{info.duration_s:,.3f} s"),
        ("time range", f"{info.t_start_us:,} to {info.t_end_us:,} us"),
        ("mean rate", f"{info.mean_rate_hz / 1e6:,.3f} M events/s"),
        ("peak rate", f"{info.peak_rate_hz / 1e6:,.3f} M events/s"),
        ("sorted", sorted_text),
    ):
        table.add_row(name, value)
    console.print(table)
