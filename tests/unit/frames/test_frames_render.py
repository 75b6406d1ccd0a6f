"""Every renderer matches a slow per-event reference; binning counts every event once."""

from __future__ import annotations

import math
import typing
from collections import Counter

import numpy as np
import pytest
from numpy.typing import NDArray

from labeller.config import RenderSettings
from labeller.errors import ConfigError, RecordingError
from labeller.frames import (
    RENDERERS,
    bin_events,
    render,
    render_counts,
    render_histogram,
    render_time_surface,
)
from labeller.recordings import Events

BG, ON, OFF = (16, 16, 24), (255, 170, 60), (60, 150, 255)
T0_US = 1_650_000_000_000_000
HISTOGRAM = RenderSettings()


def make_events(x: list[int], y: list[int], p: list[int], t: list[int] | None = None) -> Events:
    return Events(
        x=np.array(x, dtype=np.uint16),
        y=np.array(y, dtype=np.uint16),
        p=np.array(p, dtype=np.uint8),
        t_us=np.array(t if t is not None else range(len(x)), dtype=np.int64) + T0_US,
    )


def random_events(n: int, width: int, height: int, seed: int, span_us: int = 50_000) -> Events:
    """Uniform events plus a hot spot, so counts span a wide range and some pixels clip."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.integers(0, width, n), np.full(n // 4, width // 2)])
    y = np.concatenate([rng.integers(0, height, n), np.full(n // 4, height // 3)])
    return Events(
        x=x.astype(np.uint16),
        y=y.astype(np.uint16),
        p=(rng.random(x.shape) < 0.5).astype(np.uint8),
        t_us=np.sort(rng.integers(0, span_us, x.shape[0])).astype(np.int64) + T0_US,
    )


def pixel_counts(events: Events) -> tuple[Counter[tuple[int, int]], Counter[tuple[int, int]]]:
    """(all, ON) events per (row, column), one Python step per event."""
    total: Counter[tuple[int, int]] = Counter()
    on: Counter[tuple[int, int]] = Counter()
    for x, y, p in zip(events.x.tolist(), events.y.tolist(), events.p.tolist(), strict=True):
        total[(y, x)] += 1
        on[(y, x)] += p
    return total, on


def nearest_higher(values: list[int], percentile: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 1.0
    return max(1.0, ordered[math.ceil(percentile / 100 * (len(ordered) - 1))])


def reference_histogram(
    events: Events, width: int, height: int, options: RenderSettings
) -> list[list[list[int]]]:
    total, on = pixel_counts(events)
    clip = nearest_higher(list(total.values()), 99.0)
    image = []
    for row in range(height):
        pixels = []
        for col in range(width):
            n = total[(row, col)]
            if n == 0:
                pixels.append(list(options.background))
                continue
            intensity, share = min(1.0, n / clip), on[(row, col)] / n
            channels = zip(options.background, options.on_color, options.off_color, strict=True)
            pixels.append(
                [
                    min(255, max(0, round(bg + intensity * (share * c1 + (1 - share) * c0 - bg))))
                    for bg, c1, c0 in channels
                ]
            )
        image.append(pixels)
    return image


def reference_counts(events: Events, width: int, height: int, percentile: float) -> list[list[int]]:
    total, _ = pixel_counts(events)
    clip = nearest_higher(list(total.values()), percentile)
    return [
        [round(min(1.0, total[(r, c)] / clip) * 255.0) for c in range(width)] for r in range(height)
    ]


def reference_time_surface(
    events: Events, width: int, height: int, tau_us: int, t_end_us: int
) -> list[list[int]]:
    latest: dict[tuple[int, int], int] = {}
    for x, y, t in zip(events.x.tolist(), events.y.tolist(), events.t_us.tolist(), strict=True):
        latest[(y, x)] = max(t, latest.get((y, x), t))
    surface = [[0] * width for _ in range(height)]
    for (row, col), t in latest.items():
        surface[row][col] = round(255 * math.exp(-max(0, t_end_us - t) / tau_us))
    return surface


CASES = [(13, 7, 400, 0), (31, 17, 3000, 1), (64, 48, 70_000, 5)]


@pytest.mark.parametrize(("width", "height", "n", "seed"), CASES)
def test_bin_events_counts_each_event_once(width: int, height: int, n: int, seed: int) -> None:
    events = random_events(n, width, height, seed)
    counts = bin_events(events, width, height)
    assert counts.shape == (2, height, width) and counts.dtype == np.intp
    expected = np.zeros((2, height, width), dtype=np.intp)
    columns = zip(events.p.tolist(), events.y.tolist(), events.x.tolist(), strict=True)
    for key, k in Counter(columns).items():
        expected[key] = k
    np.testing.assert_array_equal(counts, expected)


@pytest.mark.parametrize(("width", "height", "n", "seed"), CASES)
def test_histogram_matches_reference(width: int, height: int, n: int, seed: int) -> None:
    events = random_events(n, width, height, seed)
    image = render_histogram(events, width, height, HISTOGRAM, t_end_us=T0_US + 50_000)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    assert image.tolist() == reference_histogram(events, width, height, HISTOGRAM)


def test_histogram_with_custom_colours() -> None:
    events = random_events(200, 9, 5, seed=2)
    options = RenderSettings(background=(0, 0, 0), on_color=(255, 255, 255), off_color=(200, 0, 9))
    image = render_histogram(events, 9, 5, options, t_end_us=T0_US)
    assert image.tolist() == reference_histogram(events, 9, 5, options)


def test_histogram_single_and_mixed_pixels() -> None:
    events = make_events([0, 3, 1, 1, 1, 1], [1, 2, 0, 0, 0, 0], [1, 0, 1, 1, 1, 0])
    image = render_histogram(events, 4, 3, HISTOGRAM, t_end_us=T0_US)
    assert image[1, 0].tolist() == [round(BG[i] + 0.25 * (ON[i] - BG[i])) for i in range(3)]
    assert image[2, 3].tolist() == [round(BG[i] + 0.25 * (OFF[i] - BG[i])) for i in range(3)]
    assert image[0, 1].tolist() == [
        round(0.75 * a + 0.25 * b) for a, b in zip(ON, OFF, strict=True)
    ]
    assert image[0, 0].tolist() == list(BG)


@pytest.mark.parametrize(("width", "height", "n", "seed"), CASES)
@pytest.mark.parametrize("percentile", [50.0, 99.0, 100.0, 0.5])
def test_counts_match_reference(
    width: int, height: int, n: int, seed: int, percentile: float
) -> None:
    events = random_events(n, width, height, seed)
    options = RenderSettings(mode="counts", counts_percentile=percentile)
    image = render_counts(events, width, height, options, t_end_us=T0_US)
    assert image.shape == (height, width) and image.dtype == np.uint8
    assert image.tolist() == reference_counts(events, width, height, percentile)


@pytest.mark.parametrize(("width", "height", "n", "seed"), CASES)
@pytest.mark.parametrize("tau", ["1ms", "10ms", "250us"])
def test_time_surface_within_one_of_reference(
    width: int, height: int, n: int, seed: int, tau: str
) -> None:
    events = random_events(n, width, height, seed)
    options = RenderSettings(mode="time-surface", time_surface_tau=tau)
    t_end = T0_US + 50_000
    image = render_time_surface(events, width, height, options, t_end_us=t_end)
    assert image.shape == (height, width) and image.dtype == np.uint8
    expected = np.array(reference_time_surface(events, width, height, options.tau_us, t_end))
    assert np.abs(image.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(image == 0, expected == 0)


def test_time_surface_latest_event_wins() -> None:
    # Pixel (0, 0) fires at 0 and 9_000 µs; only the later one counts, and it is 1 ms old.
    events = make_events([0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 5_000, 9_000])
    options = RenderSettings(mode="time-surface", time_surface_tau="1ms")
    image = render_time_surface(events, 3, 1, options, t_end_us=T0_US + 10_000)
    assert image.tolist() == [[round(255 * math.exp(-1)), round(255 * math.exp(-5)), 0]]


@pytest.mark.parametrize("mode", ["histogram", "counts", "time-surface"])
def test_empty_window(mode: str) -> None:
    options = RenderSettings(mode=mode)  # type: ignore[arg-type]
    image = render(make_events([], [], []), 4, 3, options, t_end_us=T0_US)
    expected = np.array(BG if mode == "histogram" else 0, dtype=np.uint8)
    assert image.shape[:2] == (3, 4) and np.all(image == expected)


@pytest.mark.parametrize("mode", ["histogram", "counts", "time-surface"])
@pytest.mark.parametrize(("x", "y"), [(4, 0), (0, 3), (70, 90)])
def test_events_outside_the_sensor(mode: str, x: int, y: int) -> None:
    options = RenderSettings(mode=mode)  # type: ignore[arg-type]
    with pytest.raises(RecordingError, match="events outside the 4x3 sensor"):
        render(make_events([0, x], [0, y], [1, 1]), 4, 3, options, t_end_us=T0_US)


def test_render_dispatches_on_mode() -> None:
    modes = typing.get_args(RenderSettings.model_fields["mode"].annotation)
    assert set(RENDERERS) == set(modes)
    events = random_events(100, 8, 8, seed=4)
    for mode in modes:
        options = RenderSettings(mode=mode)
        image: NDArray[np.uint8] = render(events, 8, 8, options, t_end_us=T0_US + 50_000)
        direct = RENDERERS[mode](events, 8, 8, options, t_end_us=T0_US + 50_000)
        np.testing.assert_array_equal(image, direct)


def test_time_surface_needs_a_positive_tau() -> None:
    options = RenderSettings(mode="time-surface", time_surface_tau="0ms")
    with pytest.raises(ConfigError, match="render.time_surface_tau must be positive"):
        render(make_events([0], [0], [1]), 4, 3, options, t_end_us=T0_US)


def test_bin_events_on_a_sensor_too_tall_for_uint16_rows() -> None:
    events = make_events([0, 1, 1], [39_999, 20_000, 39_999], [1, 0, 1])
    counts = bin_events(events, 2, 40_000)
    assert counts.sum() == 3
    assert (counts[1, 39_999, 0], counts[0, 20_000, 1], counts[1, 39_999, 1]) == (1, 1, 1)
