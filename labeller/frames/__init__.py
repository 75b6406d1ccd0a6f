"""Frames: plan time windows over a recording, render their events, encode the image.

Imports only `labeller.recordings` and `labeller.errors` below it.
"""

from __future__ import annotations

from labeller.frames.encode import ENCODINGS, EncodedImage, encode, encode_jpeg, encode_png
from labeller.frames.render import RENDERERS, Color, Renderer, render, render_histogram
from labeller.frames.windows import Window, parse_duration_us, plan_time_windows

__all__ = [
    "ENCODINGS",
    "RENDERERS",
    "Color",
    "EncodedImage",
    "Renderer",
    "Window",
    "encode",
    "encode_jpeg",
    "encode_png",
    "parse_duration_us",
    "plan_time_windows",
    "render",
    "render_histogram",
]
