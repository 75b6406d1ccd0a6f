"""`labeller estimate`: a job's cost and the time its limits allow, before it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from labeller.cli._common import ConfigOpt, console, load
from labeller.jobs import estimate_job
from labeller.recordings import open_recording

__all__ = ["estimate"]


def estimate(
    recording: Annotated[Path, typer.Argument(help="HDF5 event recording.", metavar="RECORDING")],
    config: ConfigOpt = None,
    window: Annotated[str | None, typer.Option(help="Frame length [default: 50ms].")] = None,
    events: Annotated[int | None, typer.Option(min=1, help="Events per frame instead.")] = None,
    max_side: Annotated[int | None, typer.Option(min=1, help="Downscale to this side.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Frames, tokens and cost per provider and for the mix, and the time the limits allow."""
    binning = {k: v for k, v in (("window", window), ("events", events)) if v is not None}
    settings = load(
        config,
        binning=binning or None,
        render={"max_side": max_side} if max_side is not None else None,
    )
    with open_recording(recording, settings.recording) as opened:
        figures = estimate_job(opened, settings)
    minutes = figures.minutes
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "frames": figures.frames,
                    "skipped": figures.skipped,
                    "cost_usd": round(figures.cost_usd, 6),
                    "minutes": None if minutes is None else round(minutes, 2),
                    "providers": {
                        p.name: {
                            "model": p.model,
                            "share": round(p.share, 4),
                            "input_tokens_per_frame": p.input_tokens_per_frame,
                            "output_tokens_per_frame": p.output_tokens_per_frame,
                            "cost_per_frame_usd": p.cost_per_frame_usd,
                            "cost_if_all_usd": round(p.cost_per_frame_usd * figures.sent, 6),
                            "frames_per_min": p.frames_per_min,
                        }
                        for p in figures.providers
                    },
                },
                indent=2,
            )
        )
        return
    table = Table(
        title=(
            f"{figures.frames:,} frames ({figures.skipped:,} skipped), images "
            f"{figures.image_width}x{figures.image_height}; nothing has been sent"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("provider", "model", "share", "tok in", "tok out", "USD/frame",
                   "USD if all here", "frames/min limit"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("provider", "model") else "right")
    for p in figures.providers:
        table.add_row(
            p.name,
            p.model,
            f"{p.share:.0%}",
            f"{p.input_tokens_per_frame:,}",
            f"{p.output_tokens_per_frame:,}",
            f"{p.cost_per_frame_usd:.6f}",
            f"{p.cost_per_frame_usd * figures.sent:,.2f}",
            "unlimited" if p.frames_per_min is None else f"{p.frames_per_min:,.0f}",
        )
    console.print(table)
    time_text = (
        "no rate limit binds: latency and workers decide"
        if minutes is None
        else f"{minutes:,.1f} min at the configured limits"
    )
    console.print(f"mix: {figures.cost_usd:,.2f} USD before cache hits; {time_text}")
