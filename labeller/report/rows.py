"""Inline-SVG charts with one row per provider: grouped horizontal bars and box plots.

Drawn with the primitives of `svg`; marks carry `data-category`, `data-series` and
`data-value`, and a `<title>` with the exact figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from labeller.report.svg import AXIS, GRID, TOP, WIDTH, nice_ticks, svg_element, text_at, tick_text

__all__ = ["Bar", "Box", "box_chart", "hbar_chart"]


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal bar chart; `text` is printed after it."""

    category: str
    series: str
    color: str
    value: float
    text: str


@dataclass(frozen=True)
class Box:
    """A distribution as p5, p25, p50, p75, p95, drawn as whiskers, box and median."""

    category: str
    color: str
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    text: str


def _row_layout(rows: int, per_row: int = 1) -> tuple[int, float]:
    """Chart height and row pitch for `rows` horizontal rows of `per_row` bars each."""
    pitch = 12.0 + 22.0 * per_row
    return int(TOP + rows * pitch + 30), pitch


def _empty(name: str, text: str) -> str:
    """A short chart that says there is nothing to draw yet."""
    return svg_element(name, text, [text_at(WIDTH / 2, 40, text, "middle", "axis")], 64)


def hbar_chart(name: str, bars: Sequence[Bar], *, label: str, value_label: str) -> str:
    """Horizontal bars grouped by category (one row per category, series side by side)."""
    if not bars:
        return _empty(name, f"no {label} yet")
    categories = list(dict.fromkeys(b.category for b in bars))
    series = list(dict.fromkeys(b.series for b in bars))
    height, pitch = _row_layout(len(categories), len(series))
    top = max((b.value for b in bars), default=0.0)
    ticks = nice_ticks(0.0, top or 1.0, 4)
    # Room after the longest bar for its text (about 7 units a character at this size).
    left, right = 110, WIDTH - max(60, 7 * max((len(b.text) for b in bars), default=0) + 16)

    def sx(v: float) -> float:
        return left + (right - left) * v / ticks[-1]

    body = []
    base = height - 30
    for t in ticks:
        body.append(
            f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{TOP}" y2="{base}" stroke="{GRID}"/>'
        )
        body.append(text_at(sx(t), base + 16, tick_text(t), "middle", "tick"))
    band = (pitch - 12) / len(series)
    for r, category in enumerate(categories):
        y = TOP + r * pitch + 6
        body.append(text_at(left - 8, y + (pitch - 12) / 2 + 4, category, "end", "cat"))
        for bar in (b for b in bars if b.category == category):
            by = y + series.index(bar.series) * band
            body.append(
                f'<rect class="bar" data-category="{escape(bar.category)}" '
                f'data-series="{escape(bar.series)}" data-value="{bar.value:g}" x="{left}" '
                f'y="{by:.1f}" width="{max(sx(bar.value) - left, 0.0):.1f}" '
                f'height="{band - 2:.1f}" rx="2" fill="{bar.color}"><title>{escape(bar.category)} '
                f"{escape(bar.series)}: {escape(bar.text)}</title></rect>"
            )
            body.append(text_at(sx(bar.value) + 6, by + band / 2 + 3, bar.text, "start", "val"))
    body.append(f'<line x1="{left}" x2="{left}" y1="{TOP}" y2="{base}" stroke="{AXIS}"/>')
    return svg_element(name, f"{label} ({value_label})", body, height)


def box_chart(name: str, boxes: Sequence[Box], *, value_label: str) -> str:
    """One horizontal box plot per category on a shared axis starting at zero."""
    if not boxes:
        return _empty(name, "no successful call yet")
    height, pitch = _row_layout(len(boxes), 2)
    height += 14
    ticks = nice_ticks(0.0, max((b.p95 for b in boxes), default=1.0) or 1.0, 5)
    left, right = 110, WIDTH - 150

    def sx(v: float) -> float:
        return left + (right - left) * v / ticks[-1]

    base = height - 44
    body = []
    for t in ticks:
        body.append(
            f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{TOP}" y2="{base}" stroke="{GRID}"/>'
        )
        body.append(text_at(sx(t), base + 16, tick_text(t), "middle", "tick"))
    body.append(text_at((left + right) / 2, base + 36, value_label, "middle", "axis"))
    for r, b in enumerate(boxes):
        mid = TOP + r * pitch + pitch / 2
        half = (pitch - 12) / 2
        body.append(text_at(left - 8, mid + 4, b.category, "end", "cat"))
        body.append(
            f'<g class="box" data-category="{escape(b.category)}" data-value="{b.p50:g}">'
            f"<title>{escape(b.category)}: {escape(b.text)}</title>"
            f'<line x1="{sx(b.p5):.1f}" x2="{sx(b.p95):.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
            f'stroke="{b.color}" stroke-width="1.5"/>'
            f'<rect x="{sx(b.p25):.1f}" y="{mid - half:.1f}" '
            f'width="{max(sx(b.p75) - sx(b.p25), 1.0):.1f}" height="{2 * half:.1f}" rx="2" '
            f'fill="{b.color}" fill-opacity="0.25" stroke="{b.color}"/>'
            f'<line x1="{sx(b.p50):.1f}" x2="{sx(b.p50):.1f}" y1="{mid - half:.1f}" '
            f'y2="{mid + half:.1f}" stroke="{b.color}" stroke-width="3"/></g>'
        )
        body.append(text_at(right + 14, mid + 4, b.text, "start", "val"))
    return svg_element(name, value_label, body, height)
