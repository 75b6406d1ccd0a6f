"""How a job looks in the terminal: the live progress bar and the summary table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from labeller.config import JobSpec
from labeller.jobs import rates
from labeller.store import JobSummary

__all__ = ["counting_progress", "job_progress", "summary_json", "summary_table"]


@contextmanager
def counting_progress(
    console: Console, label: str, total: int | None, unit: str
) -> Iterator[Callable[[int], None]]:
    """A bar for long local work (checking a recording, planning frames); yields `advance_to`."""
    progress = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}" + (f"/{total:,}" if total else "") + f" {unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(label, total=total)

    def advance_to(done: int) -> None:
        progress.update(task, completed=done)

    with progress:
        yield advance_to


@contextmanager
def job_progress(console: Console, total: int) -> Iterator[Callable[[JobSummary], None]]:
    """A live bar of finished frames; yields the callback that updates it."""
    progress = Progress(
        TextColumn("[bold]Captioning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f} frames/s"),
        TextColumn("429s: {task.fields[limited]}"),
        TextColumn("failed: {task.fields[failed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("frames", total=total, rate=0.0, limited=0, failed=0)

    def update(summary: JobSummary) -> None:
        progress.update(
            task,
            completed=summary.finished,
            rate=rates(summary, time.time()).frames_per_s,
            limited=sum(p.rate_limited for p in summary.providers.values()),
            failed=summary.failed,
        )

    with progress:
        yield update


def summary_table(summary: JobSummary, spec: JobSpec, now: float) -> Table:
    rate = rates(summary, now)
    title = (
        f"job {summary.job_id}: {summary.state}, {summary.done}/{summary.frame_count} frames done, "
        f"{summary.failed} failed, {rate.elapsed_s:.1f} s, {rate.frames_per_s:.1f} frames/s"
    )
    if summary.cached:
        title += f", {summary.cached} from the cache (free)"
    if summary.skipped:
        title += f", {summary.skipped} skipped"
    if summary.simulated:
        title += "\nsimulated providers: captions are synthetic, costs at list prices"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("provider", "model", "calls", "ok", "429", "errors", "tok in", "tok out", "USD"):
        left = column in ("provider", "model")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    models = {p.name: p.model for p in spec.providers}
    for name, stats in sorted(summary.providers.items()):
        table.add_row(
            name,
            models.get(name, "?"),
            str(stats.attempts),
            str(stats.ok),
            str(stats.rate_limited),
            str(stats.errors),
            f"{stats.prompt_tokens:,}",
            f"{stats.completion_tokens:,}",
            f"{stats.cost_usd:.4f}",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        str(sum(s.attempts for s in summary.providers.values())),
        str(sum(s.ok for s in summary.providers.values())),
        str(sum(s.rate_limited for s in summary.providers.values())),
        str(sum(s.errors for s in summary.providers.values())),
        f"{sum(s.prompt_tokens for s in summary.providers.values()):,}",
        f"{sum(s.completion_tokens for s in summary.providers.values()):,}",
        f"{summary.cost_usd:.4f}",
    )
    return table


def summary_json(summary: JobSummary, now: float) -> dict[str, Any]:
    rate = rates(summary, now)
    return {
        "job_id": summary.job_id,
        "state": summary.state,
        "simulated": summary.simulated,
        "frames": summary.frame_count,
        "counts": summary.counts,
        "frames_per_s": round(rate.frames_per_s, 3),
        "eta_s": None if rate.eta_s is None else round(rate.eta_s, 1),
        "stalled": rate.stalled,
        "elapsed_s": round(rate.elapsed_s, 3),
        "cost_usd": round(summary.cost_usd, 6),
        "cached": summary.cached,
        "providers": {
            name: {
                "attempts": s.attempts,
                "ok": s.ok,
                "rate_limited": s.rate_limited,
                "errors": s.errors,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "cost_usd": round(s.cost_usd, 6),
            }
            for name, s in sorted(summary.providers.items())
        },
    }
