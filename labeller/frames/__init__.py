"""Frames: plan windows over a recording, bin and render their events, encode and hash the image.

Imports only `labeller.recordings`, `labeller.config` and `labeller.errors` below it.
"""

from __future__ import annotations

from labeller.frames._binning import bin_events
from labeller.frames.encode import ENCODINGS, EncodedImage, encode, encode_jpeg, encode_png
from labeller.frames.phash import (
    hamming,
    image_digest,
    perceptual_hash,
    thumbnail,
    thumbnail_distance,
)
from labeller.frames.pseudo import encode_for_request, render_window
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
    "encode_for_request",
    "encode_jpeg",
    "encode_png",
    "hamming",
    "image_digest",
    "perceptual_hash",
    "plan_count_windows",
    "plan_time_windows",
    "plan_windows",
    "render",
    "render_window",
    "thumbnail",
    "thumbnail_distance",
    "render_counts",
    "render_histogram",
    "render_time_surface",
]
