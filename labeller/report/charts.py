"""The report's six charts, drawn from its figures: progress, throughput, share, latency,
429s and fallbacks, cost. Each provider keeps one colour on every chart."""

from __future__ import annotations

from labeller.report.data import ProviderFigures, ReportData
from labeller.report.format import money
from labeller.report.rows import Bar, Box, box_chart, hbar_chart
from labeller.report.svg import Series, line_chart, stacked_bar_chart

__all__ = [
    "CACHE",
    "DONE_COLOR",
    "FAILED_COLOR",
    "FALLBACK_COLOR",
    "LIMITED_COLOR",
    "draw_charts",
    "provider_colors",
    "time_unit",
]

#: Colour-blind-safe hues, one per provider in name order.
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b")
#: The `provider` of frames whose caption was reused from an identical or near-identical one.
CACHE = "cache"
#: Frames captioned from the cache are not a provider's work: grey.
CACHE_COLOR = "#9aa3b2"
DONE_COLOR = "#2f6fdb"
FAILED_COLOR = "#d64545"
LIMITED_COLOR = "#e8912d"
FALLBACK_COLOR = "#8e5bc4"


def provider_colors(names: list[str]) -> dict[str, str]:
    hues = iter(PALETTE * (len(names) // len(PALETTE) + 1))
    return {name: CACHE_COLOR if name == CACHE else next(hues) for name in names}


def time_unit(span_s: float) -> tuple[str, float]:
    """The unit a time axis of `span_s` seconds reads best in, and seconds per unit."""
    if span_s < 180:
        return "s", 1.0
    if span_s < 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def _progress(data: ReportData, unit: str, scale: float) -> str:
    t = data.timeline
    series = [Series("done", DONE_COLOR, [(x / scale, y) for x, y in t.done_curve])]
    if t.failed_curve and t.failed_curve[-1][1] > 0:
        series.append(Series("failed", FAILED_COLOR, [(x / scale, y) for x, y in t.failed_curve]))
    marker = None
    if t.first_done_s is not None and t.first_done_s > 0.05 * t.span_s:
        first = t.first_done_s / scale
        marker = (first, f"first caption after {first:.3g} {unit}")
    return line_chart(
        "progress",
        series,
        x_max=t.span_s / scale,
        x_label=f"time since the job started ({unit})",
        y_label="frames ended",
        marker=marker,
    )


def _throughput(data: ReportData, colors: dict[str, str], unit: str, scale: float) -> str:
    t = data.timeline
    stacks = [(name, colors[name], rates) for name, rates in t.rate_by_provider.items()]
    return stacked_bar_chart(
        "throughput",
        [e / scale for e in t.edges],
        stacks,
        x_label=f"time since the job started ({unit}); bars of {t.bucket_s:g} s",
        y_label="frames done per second",
        bucket_s=t.bucket_s,
    )


def _share(providers: list[ProviderFigures], colors: dict[str, str]) -> str:
    total = sum(p.frames_done for p in providers) or 1
    bars = [
        Bar(
            p.name,
            "frames",
            colors[p.name],
            p.frames_done,
            f"{p.frames_done:,} ({p.frames_done / total:.0%})",
        )
        for p in providers
    ]
    return hbar_chart("share", bars, label="frames done per provider", value_label="frames")


def _cost(providers: list[ProviderFigures], colors: dict[str, str]) -> str:
    bars = [
        Bar(p.name, "USD", colors[p.name], p.cost_usd, money(p.cost_usd))
        for p in providers
        if p.name != CACHE
    ]
    return hbar_chart("cost", bars, label="spend per provider", value_label="USD")


def _limits(providers: list[ProviderFigures]) -> str:
    bars = []
    for p in providers:
        if p.name == CACHE:
            continue
        bars.append(Bar(p.name, "429s", LIMITED_COLOR, p.rate_limited, f"{p.rate_limited:,} × 429"))
        bars.append(
            Bar(p.name, "fallbacks", FALLBACK_COLOR, p.fallbacks, f"{p.fallbacks:,} handed on")
        )
    return hbar_chart("limits", bars, label="429s and fallbacks per provider", value_label="count")


def _latency(providers: list[ProviderFigures], colors: dict[str, str]) -> str:
    boxes = [
        Box(p.name, colors[p.name], p.latency.p5, p.latency.p25, p.latency.p50, p.latency.p75,
            p.latency.p95, f"median {p.latency.p50:,.0f} ms")
        for p in providers
        if p.latency is not None
    ]  # fmt: skip
    return box_chart("latency", boxes, value_label="latency of successful calls (ms)")


def draw_charts(data: ReportData, colors: dict[str, str]) -> dict[str, str]:
    """SVG markup of each chart, by name."""
    unit, scale = time_unit(data.timeline.span_s)
    return {
        "progress": _progress(data, unit, scale),
        "throughput": _throughput(data, colors, unit, scale),
        "share": _share(data.providers, colors),
        "cost": _cost(data.providers, colors),
        "limits": _limits(data.providers),
        "latency": _latency(data.providers, colors),
    }
