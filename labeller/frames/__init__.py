"""Frames: plan windows over a recording, bin and render their events, encode the image.

Imports only `labeller.recordings`, `labeller.config` and `labeller.errors` below it.
"""

from __future__ import annotations

from labeller.frames._binning import bin_events
from labeller.frames.encode import ENCODINGS, EncodedImage, encode, encode_jpeg, encode_png
from labeller.frames.render import (
    RENDERERS,
    Renderer,
    render,
    render_counts,
    render_histogram,
    render_time_surface,
)
from labeller.frames.windows import (
    Window,
    plan_count_windows,
    plan_time_windows,
    plan_windows,
)

__all__ = [
    "ENCODINGS",
    "RENDERERS",
    "EncodedImage",
    "Renderer",
    "Window",
    "bin_events",
    "encode",
    "encode_jpeg",
    "encode_png",
    "plan_count_windows",
    "plan_time_windows",
    "plan_windows",
    "render",
    "render_counts",
    "render_histogram",
    "render_time_surface",
]
