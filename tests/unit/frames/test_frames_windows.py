"""Time windows tile their range exactly; durations parse to whole microseconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest
from numpy.typing import NDArray

from labeller.errors import ConfigError
from labeller.frames import Window, parse_duration_us, plan_time_windows
from labeller.recordings import Recording, open_recording

T_OFFSET_US = 1_600_000_000_000_000


def write_dsec(path: Path, t: NDArray[np.int64]) -> Path:
    """A DSEC file with relative times `t` (µs, sorted) on a 16×16 sensor."""
    n = t.shape[0]
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("events/x", data=rng.integers(0, 16, n).astype(np.uint16))
        h5.create_dataset("events/y", data=rng.integers(0, 16, n).astype(np.uint16))
        h5.create_dataset("events/p", data=rng.integers(0, 2, n).astype(np.uint8))
        h5.create_dataset("events/t", data=t.astype(np.uint32))
        ms = np.arange(int(t[-1]) // 1000 + 2) * 1000
        h5.create_dataset("ms_to_idx", data=np.searchsorted(t, ms).astype(np.uint64))
        h5.create_dataset("t_offset", data=np.int64(T_OFFSET_US))
    return path


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Recording]:
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 123_457, 5000)).astype(np.int64)
    t[0] = 0
    with open_recording(write_dsec(tmp_path / "rec.h5", t)) as rec:
        yield rec


def assert_tiles(windows: list[Window], start: int, end: int) -> None:
    assert [w.index for w in windows] == list(range(len(windows)))
    assert windows[0].t_start_us == start and windows[-1].t_end_us == end
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.t_end_us == after.t_start_us
        assert before.i_end == after.i_start


def test_windows_tile_the_whole_recording(recording: Recording) -> None:
    windows = list(plan_time_windows(recording, 10_000))
    assert_tiles(windows, recording.t_start_us, recording.t_end_us)
    assert windows[0].i_start == 0 and windows[-1].i_end == recording.event_count
    assert sum(w.event_count for w in windows) == recording.event_count
    for w in windows:
        t = recording.read(w.i_start, w.i_end).t_us
        assert np.all((t >= w.t_start_us) & (t < w.t_end_us))


def test_last_partial_window_is_kept(recording: Recording) -> None:
    windows = list(plan_time_windows(recording, 10_000))
    duration = recording.t_end_us - recording.t_start_us
    assert len(windows) == -(-duration // 10_000)
    assert windows[-1].t_end_us - windows[-1].t_start_us == duration % 10_000
    assert windows[-1].event_count > 0


def test_event_on_a_boundary_goes_to_the_later_window(tmp_path: Path) -> None:
    t = np.array([0, 999, 1000, 1000, 1999, 2000, 2500], dtype=np.int64)
    with open_recording(write_dsec(tmp_path / "rec.h5", t)) as rec:
        windows = list(plan_time_windows(rec, 1000))
    assert [(w.i_start, w.i_end) for w in windows] == [(0, 2), (2, 5), (5, 7)]
    assert windows[-1].t_end_us - windows[-1].t_start_us == 501


def test_start_and_end_cut_the_range(recording: Recording) -> None:
    with h5py.File(recording.path, "r") as h5:
        t = h5["events/t"][:].astype(np.int64) + T_OFFSET_US
        start, end = T_OFFSET_US + 20_500, T_OFFSET_US + 77_777
        windows = list(plan_time_windows(recording, 7_000, start_us=start, end_us=end))
    assert_tiles(windows, start, end)
    assert windows[0].i_start == np.searchsorted(t, start)
    assert windows[-1].i_end == np.searchsorted(t, end)
    assert sum(w.event_count for w in windows) == np.count_nonzero((t >= start) & (t < end))


def test_range_beyond_the_recording_gives_empty_windows(recording: Recording) -> None:
    end = recording.t_end_us
    windows = list(plan_time_windows(recording, 1000, start_us=end, end_us=end + 2500))
    assert [(w.i_start, w.i_end) for w in windows] == [(5000, 5000)] * 3


def test_empty_range_gives_no_windows(recording: Recording) -> None:
    start = recording.t_start_us
    assert list(plan_time_windows(recording, 1000, start_us=start, end_us=start)) == []


@pytest.mark.parametrize("window_us", [0, -5])
def test_non_positive_window(recording: Recording, window_us: int) -> None:
    with pytest.raises(ConfigError, match="window must be positive"):
        plan_time_windows(recording, window_us)


def test_end_before_start(recording: Recording) -> None:
    with pytest.raises(ConfigError, match="ends before it starts"):
        plan_time_windows(recording, 1000, start_us=10, end_us=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50ms", 50_000),
        ("1s", 1_000_000),
        ("250us", 250),
        ("250µs", 250),
        ("0.5s", 500_000),
        (".25s", 250_000),
        ("10m", 600_000_000),
        ("2h", 7_200_000_000),
        (" 20 ms ", 20_000),
        ("1.5ms", 1_500),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, expected: int) -> None:
    assert parse_duration_us(text) == expected


@pytest.mark.parametrize("text", ["", "50", "ms", "-1s", "1e3ms", "5 parsecs", "1.5.0s", "1S"])
def test_parse_duration_rejects_bad_text(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration_us(text)
    assert repr(text) in str(info.value)


def test_parse_duration_rejects_fractional_microseconds() -> None:
    with pytest.raises(ConfigError, match="whole number of microseconds"):
        parse_duration_us("1.5us")
