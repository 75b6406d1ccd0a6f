"""Time windows match a brute-force reference: strides, cuts, partial windows, one look-up each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labeller.config import parse_duration_us
from labeller.errors import ConfigError
from labeller.frames import Window, plan_time_windows
from labeller.recordings import Recording, open_recording
from tests.unit.frames.frames_dsec import T_OFFSET_US, event_range, write_dsec

#: Relative event times (µs): random, with duplicates, events on 1 ms boundaries and a gap.
TIMES = np.sort(
    np.concatenate(
        [
            np.random.default_rng(1).integers(0, 20_000, 1500),
            np.random.default_rng(2).integers(31_000, 45_000, 1000),
            [0, 1000, 1000, 5000, 5000, 5000, 31_000, 44_999],
        ]
    )
).astype(np.int64)
T_ABS = TIMES + T_OFFSET_US


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    path = write_dsec(tmp_path_factory.mktemp("dsec") / "rec.h5", TIMES)
    with open_recording(path) as rec:
        yield rec


def reference(
    window: int, stride: int, start: int, end: int, keep_partial: bool
) -> list[tuple[int, int, int, int, int]]:
    """(index, t0, t1, i0, i1) per window, each event range found by scanning every event."""
    spans = []
    for k in range(10**6):
        t0 = start + k * stride
        if t0 >= end:
            break
        if t0 + window > end:
            if keep_partial:
                spans.append((t0, end))
            break
        spans.append((t0, t0 + window))
    return [(k, t0, t1, *event_range(T_ABS, t0, t1)) for k, (t0, t1) in enumerate(spans)]


def as_tuples(windows: Iterator[Window]) -> list[tuple[int, int, int, int, int]]:
    return [(w.index, w.t_start_us, w.t_end_us, w.i_start, w.i_end) for w in windows]


@pytest.mark.parametrize("keep_partial", [False, True])
@pytest.mark.parametrize(
    ("window", "stride"),
    [
        (1000, None),
        (1000, 1000),
        (3000, 700),
        (1000, 2500),
        (7, 7),
        (20_000, 15_000),
        (10**6, None),
    ],
)
@pytest.mark.parametrize(
    ("start_rel", "end_rel"), [(None, None), (2_500, 37_777), (-3_000, 50_000), (1000, 1001)]
)
def test_matches_brute_force(
    recording: Recording,
    window: int,
    stride: int | None,
    start_rel: int | None,
    end_rel: int | None,
    keep_partial: bool,
) -> None:
    start = None if start_rel is None else T_OFFSET_US + start_rel
    end = None if end_rel is None else T_OFFSET_US + end_rel
    windows = plan_time_windows(
        recording, window, stride_us=stride, start_us=start, end_us=end, keep_partial=keep_partial
    )
    expected = reference(
        window,
        stride or window,
        recording.t_start_us if start is None else start,
        recording.t_end_us if end is None else end,
        keep_partial,
    )
    assert as_tuples(windows) == expected


@pytest.mark.parametrize("window", [1, 999, 1000, 4096, 45_000, 45_001, 10**7])
def test_tiling_counts_every_event_once(recording: Recording, window: int) -> None:
    windows = list(plan_time_windows(recording, window, keep_partial=True))
    covered = [i for w in windows for i in range(w.i_start, w.i_end)]
    assert covered == list(range(recording.event_count))
    assert windows[-1].t_end_us == recording.t_end_us == int(T_ABS[-1]) + 1
    assert windows[-1].i_end == recording.event_count
    for before, after in zip(windows, windows[1:], strict=False):
        assert (before.t_end_us, before.i_end) == (after.t_start_us, after.i_start)


def test_without_keep_partial_only_full_windows(recording: Recording) -> None:
    windows = list(plan_time_windows(recording, 4096))
    duration = recording.t_end_us - recording.t_start_us
    assert len(windows) == duration // 4096
    assert all(w.t_end_us - w.t_start_us == 4096 for w in windows)
    assert windows[-1].i_end < recording.event_count


def test_event_on_a_boundary_goes_to_the_later_window(tmp_path: Path) -> None:
    t = np.array([0, 999, 1000, 1000, 1999, 2000, 2500], dtype=np.int64)
    with open_recording(write_dsec(tmp_path / "rec.h5", t)) as rec:
        windows = list(plan_time_windows(rec, 1000, keep_partial=True))
    assert [(w.i_start, w.i_end) for w in windows] == [(0, 2), (2, 5), (5, 7)]
    assert windows[-1].t_end_us - windows[-1].t_start_us == 501


def test_last_event_kept_even_when_it_ends_a_full_window(tmp_path: Path) -> None:
    # The last event at 1999 µs: the default end (2000) makes [1000, 2000) full, and it is in it.
    t = np.array([0, 500, 1999], dtype=np.int64)
    with open_recording(write_dsec(tmp_path / "rec.h5", t)) as rec:
        windows = list(plan_time_windows(rec, 1000))
    assert [(w.i_start, w.i_end) for w in windows] == [(0, 2), (2, 3)]


def test_window_boundaries_are_looked_up_in_one_pass_not_one_search_each(
    recording: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    searches: list[int] = []
    original = recording._reader.index_at

    def counting(t_us: int) -> int:
        searches.append(t_us)
        return original(t_us)

    monkeypatch.setattr(recording._reader, "index_at", counting)
    windows = list(plan_time_windows(recording, 100, keep_partial=True))
    assert len(windows) > 100
    # One bisection per slice of timestamps read (one slice here), not two per window.
    assert len(searches) <= 2


def test_range_beyond_the_recording_gives_empty_windows(recording: Recording) -> None:
    end = recording.t_end_us
    windows = list(plan_time_windows(recording, 1000, start_us=end, end_us=end + 2500))
    n = recording.event_count
    assert [(w.i_start, w.i_end) for w in windows] == [(n, n)] * 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_us": 0}, "binning.window must be positive"),
        ({"window_us": -5}, "binning.window must be positive"),
        ({"window_us": 10, "stride_us": 0}, "binning.stride must be positive"),
        ({"window_us": 10, "stride_us": -1}, "binning.stride must be positive"),
        ({"window_us": 10, "start_us": 10, "end_us": 5}, "binning.end must be after"),
        ({"window_us": 10, "start_us": 10, "end_us": 10}, "binning.end must be after"),
    ],
)
def test_bad_settings(recording: Recording, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_time_windows(recording, **kwargs)


def test_start_past_the_recording_without_end(recording: Recording) -> None:
    with pytest.raises(ConfigError, match=r"the recording spans \[") as info:
        plan_time_windows(recording, 1000, start_us=recording.t_end_us + 1)
    assert "\n" not in str(info.value)


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
