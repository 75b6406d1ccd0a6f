"""`labeller report`: one self-contained HTML file about a job, for a person to read or send.

Figures come from the database (`data`); charts are inline SVG of our own (`svg` for charts
over time, `rows` for one row per provider, `charts` picks what each shows); sample
pseudo-frames are redrawn from the recording (`gallery`); `page`, `style` and `format` lay
them out; `output` writes the file atomically.
"""

from __future__ import annotations

from labeller.report.data import ProgressFn, ReportData, collect
from labeller.report.format import duration, instant
from labeller.report.gallery import Gallery, GalleryItem, build_gallery
from labeller.report.output import check_output, write_atomically
from labeller.report.page import render_page

__all__ = [
    "Gallery",
    "GalleryItem",
    "ProgressFn",
    "ReportData",
    "build_gallery",
    "check_output",
    "collect",
    "duration",
    "instant",
    "render_page",
    "write_atomically",
]
