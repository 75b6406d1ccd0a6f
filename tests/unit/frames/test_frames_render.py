"""The histogram renderer matches a slow per-event reference and rejects off-sensor events."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from labeller.errors import ConfigError, RecordingError
from labeller.frames import RENDERERS, render, render_histogram
from labeller.recordings import Events

BG, ON, OFF = (16, 16, 24), (255, 170, 60), (60, 150, 255)


def make_events(x: list[int], y: list[int], p: list[int]) -> Events:
    return Events(
        x=np.array(x, dtype=np.uint16),
        y=np.array(y, dtype=np.uint16),
        p=np.array(p, dtype=np.uint8),
        t_us=np.arange(len(x), dtype=np.int64),
    )


def random_events(n: int, width: int, height: int, seed: int) -> Events:
    """Uniform events plus a hot spot, so counts span a wide range and some pixels clip."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.integers(0, width, n), np.full(n // 4, width // 2)])
    y = np.concatenate([rng.integers(0, height, n), np.full(n // 4, height // 3)])
    return Events(
        x=x.astype(np.uint16),
        y=y.astype(np.uint16),
        p=(rng.random(x.shape) < 0.5).astype(np.uint8),
        t_us=np.arange(x.shape[0], dtype=np.int64),
    )


def reference(
    events: Events,
    width: int,
    height: int,
    background: tuple[int, int, int] = BG,
    on_color: tuple[int, int, int] = ON,
    off_color: tuple[int, int, int] = OFF,
) -> list[list[list[int]]]:
    """One Python step per event and per pixel: the specification of `render_histogram`."""
    total: dict[tuple[int, int], int] = {}
    on: dict[tuple[int, int], int] = {}
    for x, y, p in zip(events.x.tolist(), events.y.tolist(), events.p.tolist(), strict=True):
        total[(y, x)] = total.get((y, x), 0) + 1
        on[(y, x)] = on.get((y, x), 0) + (1 if p else 0)
    counts = sorted(total.values())
    clip = max(1, counts[math.ceil(0.99 * (len(counts) - 1))]) if counts else 1
    image = []
    for row in range(height):
        pixels = []
        for col in range(width):
            n = total.get((row, col), 0)
            if n == 0:
                pixels.append(list(background))
                continue
            intensity = min(1.0, n / clip)
            share = on[(row, col)] / n
            pixel = []
            for bg, c_on, c_off in zip(background, on_color, off_color, strict=True):
                tint = share * c_on + (1.0 - share) * c_off
                pixel.append(min(255, max(0, round(bg + intensity * (tint - bg)))))
            pixels.append(pixel)
        image.append(pixels)
    return image


@pytest.mark.parametrize(("width", "height", "n", "seed"), [(13, 7, 400, 0), (31, 17, 3000, 1)])
def test_matches_reference(width: int, height: int, n: int, seed: int) -> None:
    events = random_events(n, width, height, seed)
    image = render_histogram(events, width, height)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    assert image.tolist() == reference(events, width, height)


def test_matches_reference_with_custom_colours() -> None:
    events = random_events(200, 9, 5, seed=2)
    colours = {"background": (0, 0, 0), "on_color": (255, 255, 255), "off_color": (200, 0, 10)}
    image = render_histogram(events, 9, 5, **colours)
    assert image.tolist() == reference(events, 9, 5, **colours)


def test_empty_window_is_background() -> None:
    image = render_histogram(make_events([], [], []), 4, 3)
    assert np.all(image == np.array(BG, dtype=np.uint8))


def test_single_events_take_their_polarity_colour() -> None:
    image = render_histogram(make_events([0, 3], [1, 2], [1, 0]), 4, 3)
    assert image[1, 0].tolist() == list(ON)
    assert image[2, 3].tolist() == list(OFF)
    assert image[0, 0].tolist() == list(BG)


def test_mixed_pixel_blends_by_on_share() -> None:
    image = render_histogram(make_events([1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]), 2, 1)
    expected = [round(0.75 * a + 0.25 * b) for a, b in zip(ON, OFF, strict=True)]
    assert image[0, 1].tolist() == expected


@pytest.mark.parametrize(("x", "y"), [(4, 0), (0, 3), (70, 90)])
def test_events_outside_the_sensor(x: int, y: int) -> None:
    with pytest.raises(RecordingError, match="events outside the 4x3 sensor"):
        render_histogram(make_events([0, x], [0, y], [1, 1]), 4, 3)


def test_render_by_name() -> None:
    events = random_events(100, 8, 8, seed=4)
    image: NDArray[np.uint8] = render("histogram", events, 8, 8)
    np.testing.assert_array_equal(image, render_histogram(events, 8, 8))
    assert set(RENDERERS) == {"histogram"}


def test_unknown_renderer_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown renderer 'voxel': expected one of histogram"):
        render("voxel", make_events([], [], []), 4, 4)
