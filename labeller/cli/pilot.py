"""A pilot's figures on the terminal or as JSON: after `labeller run --pilot N`, or again later
with `labeller pilot-report JOB`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, Group
from rich.table import Table

from labeller.cli._common import ConfigOpt, DatabaseOpt, console, load, open_store
from labeller.jobs import PilotReport, pilot_report

__all__ = ["pilot_json", "pilot_report_command", "pilot_view", "show_pilot"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _usd(value: float) -> str:
    """Dollars to the cent, or to 1/100 cent below 10 USD, where a pilot's sums live."""
    return f"{value:,.2f}" if value >= 10 else f"{value:.4f}"


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        left = column in ("provider", "model", "")
        # Only the model name wraps, so every figure stays whole in 80 columns.
        table.add_column(column, justify="left" if left else "right", no_wrap=column != "model")
    return table


def _calls_table(report: PilotReport) -> Table:
    table = _table(
        "calls (latency of successful calls, ms)",
        ("provider", "model", "ok", "failed", "calls", "429s", "p50", "p90", "p99"),
    )
    for p in report.providers:
        table.add_row(
            p.name,
            p.model,
            f"{p.done}/{p.frames}",
            str(p.failed),
            str(p.calls),
            f"{p.rate_limited_share:.0%}",
            *(_ms(p.latency_ms.get(q)) for q in (50, 90, 99)),
        )
    return table


def _frame_table(report: PilotReport) -> Table:
    table = _table(
        "per captioned frame; in, out: tokens; limit/min: frames a minute the limits allow; "
        f"USD if all: the full job's {report.full_sent:,} frames all sent there",
        ("provider", "share", "in", "out", "USD/frame", "words", "limit/min", "USD if all"),
    )  # fmt: skip
    for p in report.providers:
        cost = p.cost_per_frame_usd
        table.add_row(
            p.name,
            f"{p.share:.0%}",
            _num(p.prompt_tokens_per_frame, ",.0f"),
            _num(p.completion_tokens_per_frame, ",.0f"),
            _num(cost, ".6f"),
            _num(p.caption_words, ".1f"),
            "unlimited" if p.frames_per_min is None else f"{p.frames_per_min:,.0f}",
            "-" if cost is None else _usd(cost * report.full_sent),
        )
    return table


def _agreement_table(report: PilotReport) -> Table:
    """Providers against providers: mean Jaccard of their word sets on the same frames."""
    names = [p.name for p in report.providers]
    table = _table("agreement (word Jaccard)", ("", *names))
    scores = {(a.a, a.b): a.jaccard for a in report.agreement}
    scores |= {(b, a): s for (a, b), s in scores.items()}
    for row in names:
        cells = ["1.00" if row == col else _num(scores.get((row, col)), ".2f") for col in names]
        table.add_row(row, *cells)
    return table


def _closing(report: PilotReport) -> str:
    head = (
        f"pilot {report.job_id} ({report.state}): {report.sample:,} frames x "
        f"{len(report.providers)} provider{'s' if len(report.providers) != 1 else ''}, "
        f"{report.cost_usd:.4f} USD spent"
    )
    if report.simulated:
        head += " (simulated: captions are synthetic, costs at list prices)"
    cost, minutes = report.full_cost_usd, report.full_minutes
    if cost is None:
        return head + "\nfull job: cannot be priced, a provider with a share captioned nothing"
    time_text = (
        "no rate limit binds: latency and workers decide its time"
        if minutes is None
        else f"{minutes:,.1f} min at the configured limits"
    )
    return (
        f"{head}\nfull job: {report.full_frames:,} frames ({report.full_skipped:,} skipped), "
        f"{_usd(cost)} USD under the configured mix; {time_text}"
    )


def pilot_view(report: PilotReport) -> Group:
    """The report as a person reads it: calls, per-frame figures, agreement, extrapolation."""
    tables: list[Any] = [_calls_table(report), _frame_table(report)]
    if len(report.providers) > 1:
        tables.append(_agreement_table(report))
    return Group(*tables, _closing(report))


def pilot_json(report: PilotReport) -> dict[str, Any]:
    minutes, cost = report.full_minutes, report.full_cost_usd
    return {
        "job_id": report.job_id,
        "kind": "pilot",
        "state": report.state,
        "simulated": report.simulated,
        "sample_frames": report.sample,
        "cost_usd": report.cost_usd,
        "providers": {
            p.name: {
                "model": p.model,
                "share": p.share,
                "frames": p.frames,
                "done": p.done,
                "failed": p.failed,
                "calls": p.calls,
                "rate_limited": p.rate_limited,
                "rate_limited_share": p.rate_limited_share,
                "latency_ms": {f"p{q}": v for q, v in p.latency_ms.items()},
                "latency_mean_ms": p.latency_mean_ms,
                "prompt_tokens_per_frame": p.prompt_tokens_per_frame,
                "completion_tokens_per_frame": p.completion_tokens_per_frame,
                "cost_per_frame_usd": p.cost_per_frame_usd,
                "caption_words": p.caption_words,
                "cost_usd": p.cost_usd,
                "frames_per_min": p.frames_per_min,
            }
            for p in report.providers
        },
        "agreement": [
            {"a": a.a, "b": a.b, "frames": a.frames, "jaccard": a.jaccard} for a in report.agreement
        ],
        "full_job": {
            "frames": report.full_frames,
            "skipped": report.full_skipped,
            "sent": report.full_sent,
            "cost_usd": cost,
            "minutes": minutes,
        },
    }


def show_pilot(report: PilotReport, *, as_json: bool, out: Console = console) -> None:
    if as_json:
        typer.echo(json.dumps(pilot_json(report), indent=2))
    else:
        out.print(pilot_view(report))


def pilot_report_command(
    job_id: Annotated[str, typer.Argument(help="A pilot's job id.", metavar="JOB")],
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A pilot's figures again: latency, 429s, tokens, cost, agreement, full-job extrapolation."""
    settings = load(config, database_url=database_url)
    store = open_store(settings, create=False)
    try:
        report = pilot_report(store.engine, job_id)
    finally:
        store.engine.dispose()
    show_pilot(report, as_json=as_json)
