"""Count windows match a brute-force reference; plan_windows reads settings; planning streams."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from numpy.typing import NDArray

from labeller.config import BinningSettings
from labeller.errors import ConfigError
from labeller.frames import (
    Window,
    plan_count_windows,
    plan_time_windows,
    plan_windows,
)
from labeller.recordings import Recording, open_recording
from tests.unit.frames.frames_dsec import T_OFFSET_US, event_range, write_dsec

#: Relative event times (µs) with runs of equal times, so count boundaries fall inside a µs.
TIMES = np.sort(
    np.concatenate([np.random.default_rng(3).integers(0, 30_000, 997), [10_000] * 40])
).astype(np.int64)
T_ABS = TIMES + T_OFFSET_US


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    path = write_dsec(tmp_path_factory.mktemp("dsec") / "rec.h5", TIMES)
    with open_recording(path) as rec:
        yield rec


def reference(
    n: int, stride: int, start: int, end: int, keep_partial: bool
) -> list[tuple[int, int, int, int, int]]:
    """(index, t0, t1, i0, i1) per window, from the full timestamp array."""
    first, stop = event_range(T_ABS, start, end)
    out = []
    for k, i0 in enumerate(range(first, stop, stride)):
        i1 = i0 + n
        if i1 > stop and not keep_partial:
            break
        i1 = min(i1, stop)
        t1 = int(T_ABS[i1]) if i1 < stop else int(T_ABS[stop - 1]) + 1
        out.append((k, int(T_ABS[i0]), t1, i0, i1))
        if i1 == stop:
            break
    return out


def as_tuples(windows: Iterator[Window]) -> list[tuple[int, int, int, int, int]]:
    return [(w.index, w.t_start_us, w.t_end_us, w.i_start, w.i_end) for w in windows]


@pytest.mark.parametrize("keep_partial", [False, True])
@pytest.mark.parametrize(
    ("n", "stride"), [(100, None), (100, 100), (100, 30), (50, 120), (1, None), (1037, None)]
)
@pytest.mark.parametrize(("start_rel", "end_rel"), [(None, None), (5_001, 20_000), (-9, 10_001)])
def test_matches_brute_force(
    recording: Recording,
    n: int,
    stride: int | None,
    start_rel: int | None,
    end_rel: int | None,
    keep_partial: bool,
) -> None:
    start = None if start_rel is None else T_OFFSET_US + start_rel
    end = None if end_rel is None else T_OFFSET_US + end_rel
    windows = plan_count_windows(
        recording, n, stride_events=stride, start_us=start, end_us=end, keep_partial=keep_partial
    )
    expected = reference(
        n,
        stride or n,
        recording.t_start_us if start is None else start,
        recording.t_end_us if end is None else end,
        keep_partial,
    )
    assert as_tuples(windows) == expected


@pytest.mark.parametrize("n", [1, 7, 100, 1036, 1037, 5000])
def test_tiling_counts_every_event_once(recording: Recording, n: int) -> None:
    windows = list(plan_count_windows(recording, n, keep_partial=True))
    covered = [i for w in windows for i in range(w.i_start, w.i_end)]
    assert covered == list(range(recording.event_count))
    assert all(w.event_count == n for w in windows[:-1]) and 0 < windows[-1].event_count <= n
    assert windows[-1].t_end_us == recording.t_end_us
    for before, after in zip(windows, windows[1:], strict=False):
        assert (before.t_end_us, before.i_end) == (after.t_start_us, after.i_start)


def test_partial_dropped_by_default(recording: Recording) -> None:
    windows = list(plan_count_windows(recording, 100))
    assert len(windows) == recording.event_count // 100
    assert windows[-1].i_end == 100 * len(windows)


def test_one_time_lookup_per_boundary(
    recording: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = recording.time_at

    def counting(index: int) -> int:
        calls.append(index)
        return original(index)

    monkeypatch.setattr(recording, "time_at", counting)
    windows = list(plan_count_windows(recording, 100, keep_partial=True))
    assert len(calls) == len(windows) + 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"events_per_window": 0}, "binning.events must be positive"),
        ({"events_per_window": -3}, "binning.events must be positive"),
        ({"events_per_window": 10, "stride_events": 0}, "binning.stride must be a positive"),
        ({"events_per_window": 10, "start_us": 10, "end_us": 9}, "binning.end must be after"),
    ],
)
def test_bad_settings(recording: Recording, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_count_windows(recording, **kwargs)


def test_plan_windows_by_time_uses_offsets(recording: Recording) -> None:
    binning = BinningSettings(window="2ms", stride="1500us", start="3ms", end="25ms")
    t0 = recording.t_start_us
    expected = plan_time_windows(
        recording, 2000, stride_us=1500, start_us=t0 + 3000, end_us=t0 + 25_000
    )
    assert as_tuples(plan_windows(recording, binning)) == as_tuples(expected)


def test_plan_windows_by_count(recording: Recording) -> None:
    binning = BinningSettings(events=64, stride="32", start="1ms", keep_partial=True)
    t0 = recording.t_start_us
    expected = plan_count_windows(
        recording, 64, stride_events=32, start_us=t0 + 1000, keep_partial=True
    )
    got = as_tuples(plan_windows(recording, binning))
    assert got == as_tuples(expected) and got[-1][4] == recording.event_count


def test_plan_windows_start_past_the_end(recording: Recording) -> None:
    with pytest.raises(ConfigError, match="binning.end must be after binning.start"):
        plan_windows(recording, BinningSettings(start="1h"))


class _Uniform:
    """A stand-in recording of `n` events, one per µs: only what planning calls."""

    def __init__(self, n: int) -> None:
        self.event_count = n
        self.t_start_us = T_OFFSET_US
        self.t_end_us = T_OFFSET_US + n

    def index_at(self, t_us: int) -> int:
        return min(max(t_us - self.t_start_us, 0), self.event_count)

    def time_at(self, index: int) -> int:
        return self.t_start_us + index

    def indices_at(self, times_us: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.clip(times_us - self.t_start_us, 0, self.event_count)


@pytest.mark.parametrize("by", ["time", "count"])
def test_a_billion_events_plan_in_constant_memory(by: str) -> None:
    fake = cast(Recording, _Uniform(10**9))
    windows = plan_time_windows(fake, 1_000) if by == "time" else plan_count_windows(fake, 1_000)
    tracemalloc.start()
    try:
        for _ in itertools.islice(windows, 200_000):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Time windows are looked up a block at a time: bounded by the block, not by the 200,000
    # windows (about 40 MB as objects) nor by the 10^9 timestamps (8 GB).
    assert peak < 4_000_000
    last = next(windows)
    assert (last.index, last.i_start, last.event_count) == (200_000, 200_000_000, 1_000)


def test_empty_range_of_count_windows(tmp_path: Path) -> None:
    t = np.array([0, 10, 5000], dtype=np.int64)
    with open_recording(write_dsec(tmp_path / "rec.h5", t)) as rec:
        start = rec.t_start_us + 100
        windows = plan_count_windows(rec, 1, start_us=start, end_us=start + 1000)
        assert list(windows) == []
