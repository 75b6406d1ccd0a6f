"""How `labeller status JOB --watch` looks: one reading of a running job drawn as progress,
rate, ETA, spend and each provider's health, or written as one JSON object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from labeller.report import duration
from labeller.store import JobSummary

__all__ = ["ProviderHealth", "Reading", "reading_json", "watch_view"]


@dataclass(frozen=True)
class ProviderHealth:
    name: str
    model: str
    #: Frames of the job waiting on the provider's queue, and being captioned by it now.
    queued: int
    running: int
    #: Calls started in the recent window, and how many of them were answered with a 429.
    recent_attempts: int
    recent_429s: int
    #: `Limiter.snapshot` of the provider's route; None when the limiter cannot be read.
    limiter: dict[str, Any] | None


@dataclass(frozen=True)
class Reading:
    """What one refresh read: the database's figures and the limiter's, at `now` (epoch s)."""

    summary: JobSummary
    recording: str
    now: float
    #: Frames finished per second over the last `rate_window_s` seconds (the job's whole run
    #: while it is younger than `window_s`).
    recent_per_s: float
    rate_window_s: float
    #: Seconds over which `ProviderHealth.recent_attempts` are counted.
    window_s: float
    eta_s: float | None
    budget_usd: float | None
    providers: list[ProviderHealth]
    #: Why the limiter's figures are missing, if they are.
    limiter_note: str | None
    #: Seconds since a frame last finished, when that is long enough to worry about.
    stalled_s: float | None = None


def _short(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`: a time left that fits a narrow cell."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _amount(n: float) -> str:
    """Token counts that fit a column: 950, 45.1k, 2.3M."""
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    if n >= 1e3:
        return f"{n / 1e3:.1f}".removesuffix(".0") + "k"
    return f"{n:.0f}"


def _use(used: int, limit: int | None) -> Text:
    """`used/limit`, yellow past 80% of the limit; `used/∞` when there is none."""
    if limit is None:
        return Text(f"{_amount(used)}/∞")
    share = used / limit if limit else 1.0
    style = "red" if share >= 1.0 else "yellow" if share >= 0.8 else ""
    return Text(f"{_amount(used)}/{_amount(limit)}", style=style)


def _circuit(snapshot: dict[str, Any], now: float) -> Text:
    breaker = snapshot["breaker"]
    state = str(breaker["state"])
    if state == "open":
        until = breaker["open_until"]
        left = f" {_short(until - now)}" if until is not None else ""
        return Text(f"open{left}", style="red")
    if state == "half_open":
        return Text("half-open", style="yellow")
    failures = int(breaker["failures"])
    return Text(f"closed, {failures} fail" if failures else "closed", style="")


def _keys(snapshot: dict[str, Any], now: float) -> Text:
    """`1 ready` when every key can be granted; else how many cool down (and for how long at
    most) or are disabled."""
    keys = snapshot["keys"].values()
    cooling = [k["cooldown_until"] for k in keys if k["cooldown_until"] and not k["disabled"]]
    disabled = sum(1 for k in keys if k["disabled"])
    if not cooling and not disabled:
        return Text(f"{len(keys)} ready")
    parts = Text()
    if cooling:
        parts.append(f"{len(cooling)} cooling {_short(max(cooling) - now)}", style="yellow")
    if disabled:
        parts.append(", " if cooling else "")
        parts.append(f"{disabled} disabled", style="red")
    return parts


def _share(limited: int, attempts: int) -> Text:
    """429s of the recent calls, `3/40`: yellow when any, red when half or more."""
    if attempts == 0:
        return Text("-", style="dim")
    share = limited / attempts
    style = "red" if share >= 0.5 else "yellow" if share > 0 else ""
    return Text(f"{limited}/{attempts}", style=style)


def _providers_table(reading: Reading) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("provider", no_wrap=True)
    table.add_column("queued", justify="right", no_wrap=True)
    table.add_column("running", justify="right", no_wrap=True)
    table.add_column("RPM", justify="right", no_wrap=True)
    table.add_column("TPM", justify="right", no_wrap=True)
    table.add_column(
        "429s/min" if reading.window_s == 60 else f"429s/{reading.window_s:.0f}s",
        justify="right",
        no_wrap=True,
    )
    # The last two wrap first in a narrow terminal; the figures never do.
    table.add_column("circuit")
    table.add_column("keys")
    for p in reading.providers:
        snap = p.limiter
        running = str(p.running)
        if snap is not None and snap["max_in_flight"] is not None:
            running += f"/{snap['max_in_flight']}"
        dash = Text("—", style="dim")
        table.add_row(
            p.name,
            str(p.queued),
            running,
            _use(snap["rpm_used"], snap["rpm_limit"]) if snap else dash,
            _use(snap["tpm_used"], snap["tpm_limit"]) if snap else dash,
            _share(p.recent_429s, p.recent_attempts),
            _circuit(snap, reading.now) if snap else dash,
            _keys(snap, reading.now) if snap else dash,
        )
    return table


def _headline(reading: Reading) -> Text:
    summary = reading.summary
    line = Text()
    line.append(f"job {summary.job_id}", style="bold")
    line.append(f"  {Path(reading.recording).name}  ")
    state_style = {"done": "green", "failed": "red", "paused": "yellow", "cancelled": "dim"}
    line.append(summary.state, style=state_style.get(summary.state, "cyan"))
    end = summary.finished_at if summary.finished_at is not None else reading.now
    line.append(f"  {duration(end - summary.created_at)} elapsed")
    if summary.simulated:
        line.append("  simulated", style="dim")
    return line


def _progress(reading: Reading) -> Table:
    summary = reading.summary
    total = max(summary.frame_count, 1)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True, justify="right")
    bar = ProgressBar(total=total, completed=summary.finished, width=None)
    grid.add_row(
        bar,
        f"{summary.finished:,}/{summary.frame_count:,} frames {summary.finished / total:4.0%}",
    )
    return grid


def _figures(reading: Reading) -> Text:
    summary = reading.summary
    line = Text()
    line.append(f"{summary.done:,} done")
    if summary.failed:
        line.append(f", {summary.failed:,} failed", style="red")
    if summary.skipped:
        line.append(f", {summary.skipped:,} skipped")
    if summary.cached:
        line.append(f", {summary.cached:,} cached")
    line.append(f"  {reading.recent_per_s:.1f} frames/s")
    if summary.state == "running":
        line.append(f"  ETA {duration(reading.eta_s)}" if reading.eta_s is not None else "  ETA -")
    budget = f" of {reading.budget_usd:g}" if reading.budget_usd is not None else ""
    line.append(f"  spend {summary.cost_usd:.4f}{budget} USD")
    return line


def watch_view(reading: Reading) -> RenderableType:
    parts: list[RenderableType] = [_headline(reading), _progress(reading), _figures(reading)]
    if reading.stalled_s is not None:
        parts.append(
            Text(
                f"no frame has finished for {duration(reading.stalled_s)}: are workers running?",
                style="yellow",
            )
        )
    parts.append(_providers_table(reading))
    if reading.limiter_note:
        parts.append(Text(reading.limiter_note, style="dim"))
    return Group(*parts)


def reading_json(reading: Reading) -> dict[str, Any]:
    summary = reading.summary
    return {
        "job_id": summary.job_id,
        "state": summary.state,
        "at": round(reading.now, 3),
        "frames": summary.frame_count,
        "counts": summary.counts,
        "frames_per_s": round(reading.recent_per_s, 3),
        "rate_window_s": round(reading.rate_window_s, 3),
        "window_s": reading.window_s,
        "eta_s": None if reading.eta_s is None else round(reading.eta_s, 1),
        "cost_usd": round(summary.cost_usd, 6),
        "budget_usd": reading.budget_usd,
        "stalled_s": reading.stalled_s,
        "limiter_note": reading.limiter_note,
        "providers": {
            p.name: {
                "model": p.model,
                "queued": p.queued,
                "running": p.running,
                "recent_attempts": p.recent_attempts,
                "recent_429s": p.recent_429s,
                "limiter": p.limiter,
            }
            for p in reading.providers
        },
    }
