"""Small inline-SVG charts over time: axes with round ticks, lines, stacked bars.

Our own few hundred lines instead of a plotting library: the report must be one file with no
script and no fetched font, and these four shapes are all it draws. Every mark carries `data-*`
attributes (series, category, value, point count), so a test can read a chart back from the
page, and a `<title>` so hovering shows the exact figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "AXIS",
    "GRID",
    "HEIGHT",
    "TEXT",
    "TOP",
    "WIDTH",
    "Series",
    "line_chart",
    "nice_ticks",
    "stacked_bar_chart",
    "svg_element",
    "text_at",
    "tick_text",
]

#: Chart size in SVG units; the page scales it to its column, text included.
WIDTH = 640
HEIGHT = 260
_LEFT, _RIGHT, TOP, _BOTTOM = 56, 16, 14, 40
AXIS = "#9aa3b2"
GRID = "#e7eaf0"
TEXT = "#4a5263"


@dataclass(frozen=True)
class Series:
    """A named, coloured run of (x, y) points."""

    label: str
    color: str
    points: Sequence[tuple[float, float]]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2, 2.5 or 5 times a power of ten) covering lo..hi."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value < hi + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def tick_text(value: float) -> str:
    """A tick label: 1.2k, 3, 0.25."""
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def svg_element(
    name: str, label: str, body: list[str], height: int = HEIGHT, attrs: str = ""
) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg"{attrs}>'
        + "".join(body)
        + "</svg>"
    )


def text_at(x: float, y: float, text: str, anchor: str = "middle", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{TEXT}"{klass}>'
        f"{escape(text)}</text>"
    )


def _axes(
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    sx: Callable[[float], float],
    sy: Callable[[float], float],
    x_label: str,
    y_label: str,
) -> list[str]:
    """Horizontal grid lines with y labels, x tick labels, and both axis titles."""
    out = []
    for y in y_ticks:
        out.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
            f'stroke="{GRID}"/>'
        )
        out.append(text_at(_LEFT - 6, sy(y) + 4, tick_text(y), "end", "tick"))
    for x in x_ticks:
        out.append(text_at(sx(x), HEIGHT - _BOTTOM + 16, tick_text(x), "middle", "tick"))
    base = HEIGHT - _BOTTOM
    out.append(
        f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{base}" y2="{base}" stroke="{AXIS}"/>'
    )
    out.append(text_at((_LEFT + WIDTH - _RIGHT) / 2, HEIGHT - 6, x_label, "middle", "axis"))
    out.append(
        f'<text transform="translate(14 {(TOP + base) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle" fill="{TEXT}" class="axis">{escape(y_label)}</text>'
    )
    return out


def _scales(
    x_max: float, y_max: float, x_count: int = 8
) -> tuple[list[float], list[float], Callable[[float], float], Callable[[float], float]]:
    x_ticks = [t for t in nice_ticks(0.0, x_max, x_count) if t <= x_max * 1.0001]
    y_ticks = nice_ticks(0.0, y_max, 4)
    x_top, y_top = max(x_max, 1e-9), y_ticks[-1]
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + plot_w * x / x_top

    def sy(y: float) -> float:
        return HEIGHT - _BOTTOM - plot_h * y / y_top

    return x_ticks, y_ticks, sx, sy


def line_chart(
    name: str,
    series: Sequence[Series],
    *,
    x_max: float,
    x_label: str,
    y_label: str,
    marker: tuple[float, str] | None = None,
) -> str:
    """Lines from x = 0 to `x_max`, the first series shaded beneath; `marker` (x, text) draws a
    labelled dashed line across the plot."""
    y_max = max((y for s in series for _, y in s.points), default=1.0) or 1.0
    x_ticks, y_ticks, sx, sy = _scales(x_max, y_max)
    body = _axes(x_ticks, y_ticks, sx, sy, x_label, y_label)
    if marker is not None:
        x = sx(marker[0])
        body.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - _BOTTOM}" '
            f'stroke="{AXIS}" stroke-dasharray="4 3"/>'
        )
        body.append(text_at(x - 6, TOP + 12, marker[1], "end", "val"))
    for i, s in enumerate(series):
        if not s.points:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        if i == 0:
            first, last = s.points[0], s.points[-1]
            body.append(
                f'<polygon points="{sx(first[0]):.1f},{sy(0):.1f} {coords} '
                f'{sx(last[0]):.1f},{sy(0):.1f}" fill="{s.color}" fill-opacity="0.12"/>'
            )
        body.append(
            f'<polyline class="series" data-series="{escape(s.label)}" '
            f'data-points="{len(s.points)}" data-final="{s.points[-1][1]:g}" '
            f'points="{coords}" fill="none" stroke="{s.color}" '
            f'stroke-width="2.2" stroke-linejoin="round"/>'
        )
    return svg_element(name, y_label, body)


def stacked_bar_chart(
    name: str,
    edges: Sequence[float],
    stacks: Sequence[tuple[str, str, Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    bucket_s: float,
) -> str:
    """A bar per interval [edges[i], edges[i+1]), stacked from `stacks` (label, colour, values).

    `bucket_s` (the intervals' length in seconds) is kept on the chart as `data-bucket-s`, so
    a reader can turn its rates back into counts.
    """
    totals = [sum(values[i] for _, _, values in stacks) for i in range(len(edges) - 1)]
    x_ticks, y_ticks, sx, sy = _scales(edges[-1] if edges else 1.0, max(totals, default=1.0) or 1.0)
    body = _axes(x_ticks, y_ticks, sx, sy, x_label, y_label)
    for i in range(len(edges) - 1):
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        gap = min(1.5, (x1 - x0) * 0.15)
        bottom = 0.0
        for label, color, values in stacks:
            value = values[i]
            if value <= 0:
                continue
            y0, y1 = sy(bottom), sy(bottom + value)
            body.append(
                f'<rect class="bar" data-series="{escape(label)}" data-value="{value:g}" '
                f'x="{x0 + gap:.1f}" y="{y1:.1f}" width="{max(x1 - x0 - 2 * gap, 0.5):.1f}" '
                f'height="{y0 - y1:.1f}" fill="{color}"><title>{escape(label)}: {value:.3g} '
                f"at {edges[i]:g}-{edges[i + 1]:g}</title></rect>"
            )
            bottom += value
    return svg_element(name, y_label, body, attrs=f' data-bucket-s="{bucket_s:g}"')
