"""The synthetic sample: a valid DSEC file of the requested size, rate and moving content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

from labeller.config import RenderSettings
from labeller.errors import ConfigError
from labeller.frames import plan_time_windows, render_histogram
from labeller.recordings import SampleInfo, open_recording, write_sample

BLOSC_FILTER_ID = 32001


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("sample") / "sample.h5"
    return write_sample(path, duration_s=0.75, width=96, height=64, rate_hz=2e5, seed=7)


def test_info(sample: SampleInfo) -> None:
    assert (sample.duration_s, sample.width, sample.height) == (0.75, 96, 64)
    assert sample.events == 150_000


def test_opens_as_dsec_with_requested_resolution(sample: SampleInfo) -> None:
    with open_recording(sample.path) as rec:
        assert rec.format == "dsec"
        assert (rec.width, rec.height) == (96, 64)
        assert rec.event_count == sample.events
        assert rec.t_start_us >= 1_500_000_000_000_000
        assert rec.t_end_us - rec.t_start_us <= 750_000
        events = rec.read(0, rec.event_count)
    assert int(events.x.max()) < 96 and int(events.y.max()) < 64
    assert set(np.unique(events.p).tolist()) == {0, 1}


def test_timestamps_sorted_and_ms_to_idx_correct(sample: SampleInfo) -> None:
    with h5py.File(sample.path, "r") as h5:
        t = h5["events/t"][:].astype(np.int64)
        ms_to_idx = h5["ms_to_idx"][:]
        filters = h5["events/t"].id.get_create_plist().get_filter(0)
    assert np.all(np.diff(t) >= 0)
    assert 0 <= t[0] and t[-1] < 750_000
    expected = np.searchsorted(t, np.arange(ms_to_idx.shape[0]) * 1000, side="left")
    np.testing.assert_array_equal(ms_to_idx, expected)
    assert ms_to_idx.shape[0] >= 751
    assert filters[0] == BLOSC_FILTER_ID


def test_consecutive_windows_render_differently(sample: SampleInfo) -> None:
    with open_recording(sample.path) as rec:
        windows = list(plan_time_windows(rec, 50_000, keep_partial=True))
        images = [
            render_histogram(
                rec.read(w.i_start, w.i_end),
                rec.width,
                rec.height,
                RenderSettings(),
                t_end_us=w.t_end_us,
            )
            for w in windows
        ]
    assert len(windows) == 15
    for before, after in zip(images, images[1:], strict=False):
        changed = np.any(before != after, axis=2).mean()
        assert changed > 0.05


def test_same_seed_same_events_with_or_without_compression(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"duration_s": 0.1, "width": 32, "height": 32, "rate_hz": 1e5}
    a = write_sample(tmp_path / "a.h5", seed=3, compress=True, **kwargs)
    b = write_sample(tmp_path / "b.h5", seed=3, compress=False, **kwargs)
    with open_recording(a.path) as ra, open_recording(b.path) as rb:
        ea, eb = ra.read(0, ra.event_count), rb.read(0, rb.event_count)
    for name in ("x", "y", "p", "t_us"):
        np.testing.assert_array_equal(getattr(ea, name), getattr(eb, name))


def test_partial_last_chunk_and_odd_duration(tmp_path: Path) -> None:
    info = write_sample(tmp_path / "s.h5", duration_s=0.0125, width=20, height=10, rate_hz=8e4)
    assert info.events == 1000
    with h5py.File(info.path, "r") as h5:
        t = h5["events/t"][:].astype(np.int64)
        ms_to_idx = h5["ms_to_idx"][:]
    assert t[-1] < 12_500
    expected = np.searchsorted(t, np.arange(ms_to_idx.shape[0]) * 1000, side="left")
    np.testing.assert_array_equal(ms_to_idx, expected)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"duration_s": 0.0}, "duration_s"),
        ({"duration_s": 5000.0}, "duration_s"),
        ({"width": 0}, "width"),
        ({"height": 70000}, "height"),
        ({"rate_hz": 1.0, "duration_s": 0.5}, "rate_hz"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        write_sample(tmp_path / "s.h5", **kwargs)
