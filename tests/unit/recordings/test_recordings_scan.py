"""Scanning, validating and inspecting small files whose every figure is known in advance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest
from numpy.typing import NDArray

from labeller.config import LayoutSettings, RecordingSettings
from labeller.errors import ConfigError, RecordingError
from labeller.recordings import (
    RecordingInfo,
    ScanReport,
    inspect_recording,
    open_recording,
    scan_recording,
    validate_recording,
)
from tests.unit.recordings.recordings_files import Source, write_dsec, write_generic

T0_US = 1_700_000_000_000_000
#: Events per 10 ms bin from T0_US: the busiest bin (index 1) holds 30 events.
PER_BIN = [5, 30, 0, 12, 29, 1]


def known_source() -> Source:
    """`PER_BIN` events spread inside each 10 ms bin; the last one ends the recording."""
    t = np.concatenate(
        [
            T0_US + k * 10_000 + np.linspace(0, 9_999, c).astype(np.int64)
            for k, c in enumerate(PER_BIN)
        ]
    )
    n = int(t.shape[0])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, n).astype(np.uint16)
    y = rng.integers(0, 10, n).astype(np.uint16)
    x[17], y[40] = 63, 47
    return Source(x=x, y=y, p=rng.integers(0, 2, n).astype(np.uint8), t_us=t)


def write_known(path: Path, **attrs: int) -> Path:
    write_dsec(path, known_source(), compress="gzip", t_offset_us=T0_US)
    with h5py.File(path, "a") as h5:
        h5.attrs.update(attrs)
    return path


@pytest.mark.parametrize("chunk_events", [1, 7, 30, 1 << 22])
def test_scan_figures_are_exact(tmp_path: Path, chunk_events: int) -> None:
    src = known_source()
    seen: list[int] = []
    with open_recording(write_known(tmp_path / "rec.h5")) as rec:
        report = scan_recording(rec, chunk_events=chunk_events, progress=seen.append)
    span_us = int(src.t_us[-1]) + 1 - T0_US
    assert report == ScanReport(
        events=77,
        sorted=True,
        first_unsorted=None,
        max_x=63,
        max_y=47,
        mean_rate_hz=77 * 1e6 / span_us,
        peak_rate_hz=3000.0,
        unsorted_t_us=None,
        previous_t_us=None,
        peak_bin_us=10_000,
    )
    assert seen == list(range(chunk_events, 77, chunk_events)) + [77]


def test_recording_shorter_than_a_bin_reports_its_mean_as_peak(tmp_path: Path) -> None:
    t = T0_US + np.arange(0, 4000, 100, dtype=np.int64)
    src = Source(
        x=np.zeros(40, np.uint16), y=np.zeros(40, np.uint16), p=np.ones(40, np.uint8), t_us=t
    )
    with open_recording(write_dsec(tmp_path / "rec.h5", src, t_offset_us=T0_US)) as rec:
        report = scan_recording(rec)
    assert report.mean_rate_hz == report.peak_rate_hz == pytest.approx(40 / 0.003901)


def unsorted_path(tmp_path: Path) -> Path:
    t = np.arange(2000, dtype=np.int64) * 100 + 4_876_000
    t[1233], t[1234] = 5_000_200, 5_000_123
    t[1500] = 0  # a second drop, never reported: the first one is
    n = t.shape[0]
    src = Source(np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.zeros(n, np.uint8), t)
    return write_dsec(tmp_path / "rec.h5", src, compress="blosc", t_offset_us=0)


@pytest.mark.parametrize("chunk_events", [1234, 1000, 1 << 22])
def test_unsorted_timestamps(tmp_path: Path, chunk_events: int) -> None:
    path = unsorted_path(tmp_path)
    with open_recording(path) as rec:
        report = scan_recording(rec, chunk_events=chunk_events)
        assert (report.sorted, report.first_unsorted) == (False, 1234)
        assert (report.unsorted_t_us, report.previous_t_us) == (5_000_123, 5_000_200)
        with pytest.raises(RecordingError) as info:
            validate_recording(rec, report)
    assert str(info.value) == (
        f"{path}: timestamps in events/t are not sorted: event 1234 at 5.000123 s comes before "
        "event 1233 at 5.000200 s"
    )


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((60, 48), "x up to 63 in events/x but the sensor is 60x48"),
        ((64, 40), "y up to 47 in events/y but the sensor is 64x40"),
    ],
)
def test_coordinates_outside_the_sensor(
    tmp_path: Path, size: tuple[int, int], expected: str
) -> None:
    path = write_known(tmp_path / "rec.h5", width=size[0], height=size[1])
    with open_recording(path) as rec, pytest.raises(RecordingError) as info:
        validate_recording(rec, scan_recording(rec))
    assert str(info.value) == f"{path}: {expected}"


def test_valid_recording_passes(tmp_path: Path) -> None:
    with open_recording(write_known(tmp_path / "rec.h5", width=64, height=48)) as rec:
        validate_recording(rec, scan_recording(rec))


def test_generic_negative_coordinates_are_off_the_sensor(tmp_path: Path) -> None:
    src = known_source()
    path = write_generic(tmp_path / "rec.h5", src)
    with h5py.File(path, "a") as h5:
        x = h5["cam/x"][:].astype(np.int16)
        x[3] = -1
        del h5["cam/x"]
        h5["cam/x"] = x
    layout = LayoutSettings(x="cam/x", y="cam/y", t="cam/t", p="cam/p")
    options = RecordingSettings(format="generic", layout=layout, width=64, height=48)
    with open_recording(path, options) as rec, pytest.raises(RecordingError, match="x up to 65535"):
        validate_recording(rec, scan_recording(rec))


def test_inspect(tmp_path: Path) -> None:
    src = known_source()
    path = write_known(tmp_path / "rec.h5")
    seen: list[int] = []
    info = inspect_recording(path, progress=seen.append)
    span_us = int(src.t_us[-1]) + 1 - T0_US
    assert info == RecordingInfo(
        path=path,
        format="dsec",
        width=64,
        height=48,
        events=77,
        t_start_us=T0_US,
        t_end_us=T0_US + span_us,
        duration_s=span_us / 1e6,
        mean_rate_hz=77 * 1e6 / span_us,
        peak_rate_hz=3000.0,
        sorted=True,
        first_unsorted=None,
    )
    assert seen == [77]
    data = info.as_json()
    assert data["path"] == str(path)
    assert {"format", "width", "height", "events", "t_start_us", "t_end_us"} <= data.keys()
    assert set(data) == {
        "path",
        "format",
        "width",
        "height",
        "events",
        "t_start_us",
        "t_end_us",
        "duration_s",
        "mean_rate_hz",
        "peak_rate_hz",
        "sorted",
        "first_unsorted",
    }


def test_inspect_reports_unsorted_without_refusing(tmp_path: Path) -> None:
    info = inspect_recording(unsorted_path(tmp_path))
    assert (info.sorted, info.first_unsorted) == (False, 1234)


def test_inspect_with_options_reads_each_coordinate_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan settles the unknown sensor size: no second pass over x and y."""
    src = known_source()
    path = write_generic(tmp_path / "rec.h5", src)
    layout = LayoutSettings(x="cam/x", y="cam/y", t="cam/t", p="cam/p")
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def counting(self: Any, args: Any, new_dtype: Any = None) -> Any:
        reads.append(self.name)
        return original(self, args, new_dtype)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    info = inspect_recording(path, RecordingSettings(format="generic", layout=layout))
    assert (info.format, info.width, info.height, info.events) == ("generic", 64, 48, 77)
    assert (reads.count("/cam/x"), reads.count("/cam/y")) == (1, 1)


def test_bad_chunk_size(tmp_path: Path) -> None:
    with open_recording(write_known(tmp_path / "rec.h5")) as rec, pytest.raises(ConfigError):
        scan_recording(rec, chunk_events=0)


def test_absurd_time_span_widens_the_bins(tmp_path: Path) -> None:
    """Two events 100 days apart: the rate bins widen instead of allocating 864 M counters."""
    t: NDArray[np.int64] = np.array([0, 100 * 86_400 * 10**6], dtype=np.int64)
    src = Source(np.zeros(2, np.uint16), np.zeros(2, np.uint16), np.zeros(2, np.uint8), t)
    path = write_generic(tmp_path / "rec.h5", src)
    layout = LayoutSettings(x="cam/x", y="cam/y", t="cam/t", p="cam/p")
    with open_recording(path, RecordingSettings(format="generic", layout=layout)) as rec:
        report = scan_recording(rec)
    assert report.peak_bin_us > 10_000
    assert report.peak_rate_hz == pytest.approx(1e6 / report.peak_bin_us)
