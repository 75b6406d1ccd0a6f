"""Renderers: turn a window's events into an RGB pseudo-frame a vision-language model can read.

A renderer takes the events and the sensor size (pixels) and returns a `(height, width, 3)`
uint8 image; `RENDERERS` names them for configuration. Binning is one `np.bincount` per
polarity, so rendering costs O(events + pixels) with no Python loop over events.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

from labeller.errors import ConfigError, RecordingError
from labeller.recordings import Events

__all__ = ["RENDERERS", "Color", "Renderer", "render", "render_histogram"]

#: An sRGB colour, each channel 0..255.
Color = tuple[int, int, int]

#: Percentile of the non-empty pixels' counts at which colour saturates, so one hot pixel
#: cannot dim the whole frame.
_SATURATION_PERCENTILE = 99


class Renderer(Protocol):
    """Renders `events` on a `width` × `height` sensor (pixels) as an (H, W, 3) uint8 image."""

    def __call__(self, events: Events, width: int, height: int) -> NDArray[np.uint8]: ...


def render_histogram(
    events: Events,
    width: int,
    height: int,
    *,
    background: Color = (16, 16, 24),
    on_color: Color = (255, 170, 60),
    off_color: Color = (60, 150, 255),
) -> NDArray[np.uint8]:
    """Per-pixel event counts, coloured by the pixel's ON share, brighter with more events.

    A pixel with `n` events moves from `background` towards its colour by `min(1, n / clip)`,
    where `clip` is the 99th percentile (nearest higher rank) of the non-empty pixels' counts.
    Its colour blends `on_color` and `off_color` by the share of ON events. Raises
    `RecordingError` if an event lies outside the sensor.
    """
    pixels = width * height
    if len(events) and (int(events.x.max()) >= width or int(events.y.max()) >= height):
        raise RecordingError(
            f"events outside the {width}x{height} sensor: x up to {int(events.x.max())}, "
            f"y up to {int(events.y.max())}"
        )
    flat = events.y.astype(np.intp) * width + events.x
    on_mask = events.p != 0
    on = np.bincount(flat[on_mask], minlength=pixels).astype(np.float64)
    total = np.bincount(flat, minlength=pixels).astype(np.float64)
    hit = total > 0
    clip = _saturation_count(total[hit])
    intensity = np.minimum(1.0, total / clip)
    share = np.divide(on, total, out=np.zeros(pixels), where=hit)
    bg = np.asarray(background, dtype=np.float64)
    tint = share[:, None] * np.asarray(on_color, dtype=np.float64) + (
        1.0 - share[:, None]
    ) * np.asarray(off_color, dtype=np.float64)
    image = bg + intensity[:, None] * (tint - bg)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8).reshape(height, width, 3)


def _saturation_count(counts: NDArray[np.float64]) -> float:
    """The count (events) at which a pixel's colour saturates; 1 for an empty frame."""
    if counts.size == 0:
        return 1.0
    return max(1.0, float(np.percentile(counts, _SATURATION_PERCENTILE, method="higher")))


#: Renderers by the name configuration uses.
RENDERERS: Final[Mapping[str, Renderer]] = MappingProxyType({"histogram": render_histogram})


def render(name: str, events: Events, width: int, height: int) -> NDArray[np.uint8]:
    """Render with the renderer called `name`; raises `ConfigError` listing the known names."""
    renderer = RENDERERS.get(name)
    if renderer is None:
        raise ConfigError(
            f"unknown renderer {name!r}: expected one of {', '.join(sorted(RENDERERS))}"
        )
    return renderer(events, width, height)
