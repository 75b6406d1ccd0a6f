"""Every layout on real HDF5 files, compressed or not: detection, extent, lookups, reads, sizes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labeller.config import LayoutSettings, RecordingSettings
from labeller.recordings import Events, open_recording
from tests.unit.recordings.recordings_files import (
    FORMATS,
    Compression,
    Source,
    random_source,
    write,
    write_e2vid,
    write_generic,
    write_m3ed,
    write_mvsec,
    write_prophesee,
)

#: 2017-09-22 in µs: MVSEC-era epoch times, where float seconds keep only ~0.24 µs.
EPOCH_US = 1_506_117_898_200_000
SEPARATE = LayoutSettings(x="cam/x", y="cam/y", t="cam/t", p="cam/p")
GENERIC = RecordingSettings(format="generic", layout=SEPARATE)


def source_for(fmt: str, n: int = 3000, seed: int = 0) -> Source:
    """M3ED times start near 0 (its ms index counts from 0); the others use epoch times."""
    return random_source(n, seed=seed, t0_us=5_000 if fmt == "m3ed" else EPOCH_US)


def options_for(fmt: str) -> RecordingSettings | None:
    return GENERIC if fmt == "generic" else None


def assert_events_equal(events: Events, src: Source, i0: int = 0, i1: int | None = None) -> None:
    i1 = len(src) if i1 is None else i1
    assert [a.dtype.name for a in (events.x, events.y, events.p, events.t_us)] == [
        "uint16",
        "uint16",
        "uint8",
        "int64",
    ]
    np.testing.assert_array_equal(events.x, src.x[i0:i1])
    np.testing.assert_array_equal(events.y, src.y[i0:i1])
    np.testing.assert_array_equal(events.p, src.p[i0:i1])
    np.testing.assert_array_equal(events.t_us, src.t_us[i0:i1])


def probes(t: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.choice(t, size=300)
    return np.unique(
        np.concatenate(
            [
                picks - 1,
                picks,
                picks + 1,
                rng.integers(int(t[0]) - 20_000, int(t[-1]) + 20_000, 600),
                [int(t[0]) - 10**9, int(t[0]), int(t[-1]), int(t[-1]) + 1, int(t[-1]) + 10**9],
            ]
        )
    )


@pytest.mark.parametrize("compress", ["none", "gzip", "blosc"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_layout_round_trip(tmp_path: Path, fmt: str, compress: Compression) -> None:
    src = source_for(fmt)
    path = write(fmt, tmp_path / f"{fmt}.h5", src, compress)
    with open_recording(path, options_for(fmt)) as rec:
        assert (rec.format, rec.event_count) == (fmt, len(src))
        assert rec.t_start_us == int(src.t_us[0])
        assert rec.t_end_us == int(src.t_us[-1]) + 1
        queries = probes(src.t_us)
        got = [rec.index_at(int(q)) for q in queries]
        assert got == np.searchsorted(src.t_us, queries, side="left").tolist()
        for i in (0, 1, 777, len(src) - 1):
            assert rec.time_at(i) == int(src.t_us[i])
        assert_events_equal(rec.read(0, len(src)), src)
        assert_events_equal(rec.read(511, 1537), src, 511, 1537)
        assert len(rec.read(9, 9)) == 0


@pytest.mark.parametrize(
    ("fmt", "size"),
    [
        ("dsec", (40, 30)),  # largest coordinate + 1
        ("prophesee", (40, 30)),  # geometry attribute
        ("mvsec", (346, 260)),  # DAVIS 346
        ("e2vid", (40, 30)),  # sensor_resolution [height, width]
        ("m3ed", (40, 30)),  # calib/resolution [width, height]
        ("generic", (40, 30)),  # largest coordinate + 1
    ],
)
def test_sensor_size_by_layout(tmp_path: Path, fmt: str, size: tuple[int, int]) -> None:
    src = random_source(3000, width=40, height=30)
    path = write(fmt, tmp_path / "rec.h5", src)
    with open_recording(path, options_for(fmt)) as rec:
        assert (rec.width, rec.height) == size


@pytest.mark.parametrize(
    ("geometry", "options", "size"),
    [
        (("root", "640x480"), None, (640, 480)),
        (("CD", b"1280x720"), None, (1280, 720)),
        (None, RecordingSettings(width=320, height=240), (320, 240)),
        (None, None, (40, 30)),
    ],
)
def test_prophesee_geometry(
    tmp_path: Path,
    geometry: tuple[str, str] | None,
    options: RecordingSettings | None,
    size: tuple[int, int],
) -> None:
    src = random_source(3000, width=40, height=30)
    path = write_prophesee(tmp_path / "rec.h5", src, geometry=geometry)
    with open_recording(path, options) as rec:
        assert (rec.width, rec.height) == size


def test_e2vid_without_resolution_uses_the_coordinates(tmp_path: Path) -> None:
    src = random_source(3000, width=40, height=30)
    with open_recording(write_e2vid(tmp_path / "rec.h5", src, resolution=None)) as rec:
        assert (rec.width, rec.height) == (40, 30)
    with open_recording(write_e2vid(tmp_path / "wide.h5", src, resolution=(480, 640))) as rec:
        assert (rec.width, rec.height) == (640, 480)


def test_settings_size_fills_in_but_never_overrides_the_file(tmp_path: Path) -> None:
    src = random_source(500, width=40, height=30)
    sized = RecordingSettings(width=640, height=480)
    with open_recording(write("dsec", tmp_path / "d.h5", src), sized) as rec:
        assert (rec.width, rec.height) == (640, 480)
    with open_recording(write("mvsec", tmp_path / "m.h5", src), sized) as rec:
        assert (rec.width, rec.height) == (640, 480)
    with open_recording(write("prophesee", tmp_path / "p.h5", src), sized) as rec:
        assert (rec.width, rec.height) == (40, 30)
    generic = RecordingSettings(format="generic", layout=SEPARATE, width=50)
    with open_recording(write("generic", tmp_path / "g.h5", src), generic) as rec:
        assert (rec.width, rec.height) == (50, 30)


@pytest.mark.parametrize("writer", [write_mvsec, write_m3ed])
def test_camera_right(tmp_path: Path, writer: Callable[..., Path]) -> None:
    left = random_source(800, seed=1, t0_us=5_000)
    right = random_source(900, seed=2, t0_us=7_000)
    path = writer(tmp_path / "stereo.h5", left, other=right)
    with open_recording(path, RecordingSettings(camera="right")) as rec:
        assert rec.event_count == 900
        assert_events_equal(rec.read(0, 900), right)
        assert rec.datasets["t"].split("/")[1] == "right"
    with open_recording(path) as rec:
        assert rec.event_count == 800
        assert_events_equal(rec.read(0, 800), left)


def test_forced_format_that_matches(tmp_path: Path) -> None:
    src = source_for("prophesee")
    path = write("prophesee", tmp_path / "p.h5", src)
    with open_recording(path, RecordingSettings(format="prophesee")) as rec:
        assert rec.format == "prophesee"


def test_auto_with_a_layout_falls_back_to_generic(tmp_path: Path) -> None:
    src = source_for("generic")
    path = write("generic", tmp_path / "g.h5", src)
    with open_recording(path, RecordingSettings(layout=SEPARATE)) as rec:
        assert rec.format == "generic"
        assert_events_equal(rec.read(0, len(src)), src)


@pytest.mark.parametrize("compress", ["none", "gzip"])
@pytest.mark.parametrize(
    ("shape", "columns"),
    [("compound", ("x", "y", "t", "p")), ("matrix", ("t", "x", "y", "p"))],
)
def test_generic_single_dataset(
    tmp_path: Path, shape: str, columns: tuple[str, str, str, str], compress: Compression
) -> None:
    src = random_source(2000, seed=4, t0_us=3_000_000)
    path = write_generic(tmp_path / "g.h5", src, compress=compress, shape=shape, columns=columns)  # type: ignore[arg-type]
    layout = LayoutSettings(events="cam/events", columns=columns)
    with open_recording(path, RecordingSettings(format="generic", layout=layout)) as rec:
        assert_events_equal(rec.read(0, len(src)), src)
        queries = probes(src.t_us)
        got = [rec.index_at(int(q)) for q in queries]
        assert got == np.searchsorted(src.t_us, queries, side="left").tolist()


def test_generic_time_units_round_to_the_nearest_us(tmp_path: Path) -> None:
    src = random_source(2000, seed=5, t0_us=EPOCH_US)
    jitter = np.random.default_rng(6).integers(-499, 500, len(src))
    cases: list[tuple[str, np.ndarray, int, np.ndarray]] = [
        ("s", src.t_us / 1e6, 0, src.t_us),
        ("ns", src.t_us * 1000 + jitter, 0, src.t_us),
        ("ms", src.t_us // 1000, 0, (src.t_us // 1000) * 1000),
        ("us", src.t_us - EPOCH_US, EPOCH_US, src.t_us),
    ]
    for unit, stored, offset, expected in cases:
        path = write_generic(tmp_path / f"{unit}.h5", src, stored_t=stored)
        layout = SEPARATE.model_copy(update={"time_unit": unit, "t_offset_us": offset})
        with open_recording(path, RecordingSettings(format="generic", layout=layout)) as rec:
            np.testing.assert_array_equal(rec.read(0, len(src)).t_us, expected, err_msg=unit)
            assert rec.time_at(len(src) - 1) == int(expected[-1])
            assert rec.index_at(int(expected[1000])) == int(
                np.searchsorted(expected, expected[1000])
            )


def test_datasets_name_where_each_field_lives(tmp_path: Path) -> None:
    src = source_for("prophesee")
    with open_recording(write("prophesee", tmp_path / "p.h5", src)) as rec:
        assert dict(rec.datasets) == {
            "x": "CD/events",
            "y": "CD/events",
            "p": "CD/events",
            "t": "CD/events",
        }
    with open_recording(write("e2vid", tmp_path / "e.h5", src)) as rec:
        assert rec.datasets["t"] == "events/ts"
        assert "e2vid" in repr(rec)
