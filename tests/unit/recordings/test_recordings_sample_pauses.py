"""The sample's pauses: still shapes leave only noise, so frames inside a pause look alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

from labeller.config import RenderSettings
from labeller.errors import ConfigError
from labeller.frames import hamming, perceptual_hash, plan_time_windows, render
from labeller.recordings import SampleInfo, open_recording, write_sample

#: Every 0.5 s the shapes stop for 0.2 s: moving 0-0.3 s and 0.5-0.8 s, still in between.
PAUSES: dict[str, Any] = {"pause_every_s": 0.5, "pause_s": 0.2}
WINDOW_US = 50_000
MOVING = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]
STILL = [6, 7, 8, 9, 16, 17, 18, 19]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("pauses") / "sample.h5"
    return write_sample(path, duration_s=1.0, width=160, height=120, rate_hz=2e5, seed=7, **PAUSES)


@pytest.fixture(scope="module")
def hashes(sample: SampleInfo) -> list[int]:
    with open_recording(sample.path) as rec:
        windows = list(plan_time_windows(rec, WINDOW_US, keep_partial=True))
        assert len(windows) == 20
        return [
            perceptual_hash(
                render(
                    rec.read(w.i_start, w.i_end),
                    rec.width,
                    rec.height,
                    RenderSettings(),
                    t_end_us=w.t_end_us,
                )
            )
            for w in windows
        ]


def window_counts(info: SampleInfo, window_us: int) -> list[int]:
    with h5py.File(info.path, "r") as h5:
        t = h5["events/t"][:].astype(np.int64)
    edges = np.arange(0, round(info.duration_s * 1e6) + window_us, window_us)
    counts, _ = np.histogram(t, bins=edges)
    return [int(count) for count in counts]


def test_during_a_pause_the_rate_drops_to_the_noise_share(sample: SampleInfo) -> None:
    counts = window_counts(sample, WINDOW_US)

    assert sample.events == 120_000 + 4_000  # 0.6 s at 2e5/s, 0.4 s at 5% of it
    assert [counts[i] for i in MOVING] == pytest.approx([10_000] * len(MOVING), abs=2)
    assert [counts[i] for i in STILL] == pytest.approx([500] * len(STILL), abs=2)


def test_frames_inside_a_pause_are_near_duplicates(hashes: list[int]) -> None:
    for pause in (STILL[:4], STILL[4:]):
        for a in pause:
            for b in pause:
                assert hamming(hashes[a], hashes[b]) <= 3, (a, b)


def test_moving_frames_differ_from_still_ones_and_from_each_other(hashes: list[int]) -> None:
    for moving in MOVING:
        for still in STILL:
            assert hamming(hashes[moving], hashes[still]) > 3, (moving, still)
    # 50 ms apart the shapes move less than a hash cell (and may hash alike); 250 ms apart,
    # the start and end of a moving span, they do not.
    for first, last in ((0, 5), (10, 15)):
        assert hamming(hashes[first], hashes[last]) > 3, (first, last)


def test_shapes_resume_where_they_stopped(hashes: list[int]) -> None:
    before, after = hashes[5], hashes[10]  # the windows either side of the first pause

    assert hamming(before, after) < min(hamming(before, hashes[i]) for i in (0, 1, 2))


def test_default_pauses_are_the_last_second_of_every_five(tmp_path: Path) -> None:
    info = write_sample(tmp_path / "s.h5", duration_s=6.0, width=32, height=32, rate_hz=2e4)

    counts = window_counts(info, 1_000_000)

    assert counts == [20_000, 20_000, 20_000, 20_000, 1_000, 20_000]
    assert info.events == sum(counts)


def test_pause_s_zero_keeps_the_shapes_moving(tmp_path: Path) -> None:
    info = write_sample(
        tmp_path / "s.h5", duration_s=1.0, width=32, height=32, rate_hz=2e4, pause_s=0.0
    )

    assert window_counts(info, 100_000) == [2_000] * 10


def test_pauses_keep_the_seed_deterministic(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"duration_s": 0.6, "width": 32, "height": 32, "rate_hz": 5e4}
    a = write_sample(tmp_path / "a.h5", seed=5, pause_every_s=0.25, pause_s=0.1, **kwargs)
    b = write_sample(tmp_path / "b.h5", seed=5, pause_every_s=0.25, pause_s=0.1, **kwargs)
    with h5py.File(a.path, "r") as ha, h5py.File(b.path, "r") as hb:
        for name in ("events/x", "events/y", "events/p", "events/t", "ms_to_idx"):
            np.testing.assert_array_equal(ha[name][:], hb[name][:])


def test_pause_edges_off_the_millisecond_grid_keep_ms_to_idx_exact(tmp_path: Path) -> None:
    info = write_sample(
        tmp_path / "s.h5",
        duration_s=0.5,
        width=32,
        height=32,
        rate_hz=1e5,
        pause_every_s=0.1234,
        pause_s=0.0517,
    )
    with h5py.File(info.path, "r") as h5:
        t = h5["events/t"][:].astype(np.int64)
        ms_to_idx = h5["ms_to_idx"][:]

    assert np.all(np.diff(t) >= 0) and t[-1] < 500_000
    expected = np.searchsorted(t, np.arange(ms_to_idx.shape[0]) * 1000, side="left")
    np.testing.assert_array_equal(ms_to_idx, expected)
    assert ms_to_idx.shape[0] == 501
    assert info.events == t.shape[0]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"pause_s": -0.5}, "pause_s"),
        ({"pause_s": 1.0, "pause_every_s": 1.0}, "pause_every_s"),
        ({"pause_s": 2.0, "pause_every_s": 1.0}, "pause_every_s"),
        ({"pause_s": float("nan")}, "pause_s"),
        # A pause that swallows nearly the whole file leaves less than one event.
        ({"rate_hz": 10.0, "duration_s": 0.5, "pause_every_s": 0.5, "pause_s": 0.49}, "rate_hz"),
    ],
)
def test_bad_pause_parameters(tmp_path: Path, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        write_sample(tmp_path / "s.h5", **kwargs)
