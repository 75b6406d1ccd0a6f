"""Synthetic captions that follow the image, so a mixed-up frame shows up as a wrong caption.

Every caption starts with "Simulated caption:" so nobody mistakes simulator output for a model's.
Captions depend on the pixels only, never on the seed: the same frame always reads the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FrameStats", "caption", "count_tokens", "describe", "truncate"]

PREFIX = "Simulated caption:"
#: Summed |R|+|G|+|B| distance from the background above which a pixel counts as an event;
#: above the 3 x 8 error of taking a 4-bit bin's centre as the background colour.
_ACTIVE_DISTANCE = 48
#: Pixels sampled to find the background colour.
_SAMPLE_PX = 256 * 1024
#: Blue minus red above which an event pixel reads as colour-coded polarity.
_CHROMA = 16
_CHANNELS = ("red", "green", "blue")


@dataclass(frozen=True)
class FrameStats:
    """Where and how much a rendered event frame differs from its background."""

    width_px: int
    height_px: int
    active_fraction: float
    centroid_x: float
    centroid_y: float
    box_width: float
    box_height: float
    on_fraction: float
    channel: str


def describe(
    rgb: npt.NDArray[np.uint8], *, width_px: int | None = None, height_px: int | None = None
) -> FrameStats:
    """Measure an (H, W, 3) frame against its background, its most common colour.

    The background is estimated from at most ~256k sampled pixels (4-bit quantised), so a
    4096 px frame costs about as much as a VGA one; events are then found at full resolution.
    Positions and areas are fractions of the frame; `width_px` and `height_px`, when `rgb` is a
    reduced copy, are the size of the image it stands for.
    """
    height, width = rgb.shape[:2]
    size = (width_px or width, height_px or height)
    step = max(1, math.ceil(math.sqrt(height * width / _SAMPLE_PX)))
    quantised = (rgb[::step, ::step] >> 4).astype(np.intp)
    bins = quantised[..., 0] << 8 | quantised[..., 1] << 4 | quantised[..., 2]
    mode = int(np.bincount(bins.ravel(), minlength=4096).argmax())
    background = np.array([mode >> 8, (mode >> 4) & 15, mode & 15], dtype=np.int16) * 16 + 8
    distance = np.zeros((height, width), dtype=np.int16)
    for channel in range(3):
        distance += np.abs(rgb[..., channel].astype(np.int16) - background[channel])
    active = (distance > _ACTIVE_DISTANCE).ravel()
    count = int(active.sum())
    if count == 0:
        return FrameStats(*size, 0.0, 0.5, 0.5, 0.0, 0.0, 0.5, "none")
    pixels = rgb.reshape(-1, 3)
    ys, xs = np.divmod(np.flatnonzero(active), width)
    events = pixels[active].astype(np.int16)
    chroma = events[:, 2] - events[:, 0]
    brighter = events.mean(axis=1) - background.mean()
    signal = np.where(np.abs(chroma) > _CHROMA, chroma, brighter)
    return FrameStats(
        width_px=size[0],
        height_px=size[1],
        active_fraction=count / (width * height),
        centroid_x=float((xs.mean() + 0.5) / width),
        centroid_y=float((ys.mean() + 0.5) / height),
        box_width=float((xs.max() - xs.min() + 1) / width),
        box_height=float((ys.max() - ys.min() + 1) / height),
        on_fraction=float((signal > 0).mean()),
        channel=_CHANNELS[int(events.mean(axis=0).argmax())],
    )


def caption(stats: FrameStats, target_tokens: int) -> str:
    """A caption of whole sentences, about `target_tokens` long (at least the first sentence)."""
    sentences = _sentences(stats)
    target_words = max(1, round(target_tokens * 3 / 4))
    chosen: list[str] = []
    words = 0
    n = 0
    while not chosen or words < target_words:
        sentence = sentences[n] if n < len(sentences) else _filler(n - len(sentences) + 1)
        chosen.append(sentence)
        words += len(sentence.split())
        n += 1
    return " ".join(chosen)


def count_tokens(text: str) -> int:
    """Approximate tokens: four tokens for every three words, at least one."""
    return max(1, math.ceil(len(text.split()) * 4 / 3))


def truncate(text: str, max_tokens: int) -> str:
    """Cut `text` to the words that fit in `max_tokens`, as the API does at finish_reason length."""
    keep = max(1, math.floor(max_tokens * 3 / 4))
    return " ".join(text.split()[:keep])


def _sentences(stats: FrameStats) -> list[str]:
    if stats.active_fraction == 0.0:
        return [
            f"{PREFIX} an empty frame with no visible event activity on a uniform background.",
            f"The frame measures {stats.width_px} by {stats.height_px} pixels.",
        ]
    return [
        f"{PREFIX} {_density(stats.active_fraction)} event activity concentrated in the "
        f"{_region(stats)}, {_polarity(stats.on_fraction)}, covering "
        f"{stats.active_fraction:.1%} of the frame.",
        f"The centre of activity lies at {stats.centroid_x:.0%} of the width and "
        f"{stats.centroid_y:.0%} of the height.",
        f"Events span a box of {stats.box_width:.0%} by {stats.box_height:.0%} of the "
        f"{stats.width_px} by {stats.height_px} pixel frame.",
        f"The {stats.channel} channel dominates the event pixels.",
    ]


def _filler(n: int) -> str:
    return f"Synthetic detail {n} adds no further information about the scene."


def _density(fraction: float) -> str:
    if fraction < 0.05:
        return "sparse"
    if fraction < 0.25:
        return "moderate"
    return "dense"


def _region(stats: FrameStats) -> str:
    vertical = ("upper", "middle", "lower")[min(2, int(stats.centroid_y * 3))]
    horizontal = ("left", "centre", "right")[min(2, int(stats.centroid_x * 3))]
    if vertical == "middle":
        return "centre" if horizontal == "centre" else f"middle {horizontal}"
    return f"{vertical} {horizontal}"


def _polarity(on_fraction: float) -> str:
    if on_fraction >= 0.6:
        return "mostly ON polarity"
    if on_fraction <= 0.4:
        return "mostly OFF polarity"
    return "mixed ON and OFF polarity"
