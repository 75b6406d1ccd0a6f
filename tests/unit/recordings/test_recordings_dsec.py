"""The DSEC reader on real HDF5 files: validation messages, time lookups, reads, sizes."""

from __future__ import annotations

from pathlib import Path

import h5py  # type: ignore[import-untyped]
import hdf5plugin
import numpy as np
import pytest
from numpy.typing import NDArray

from labeller.errors import RecordingError
from labeller.recordings import Recording, open_recording

T_OFFSET_US = 1_600_000_000_000_000


def write_dsec(
    path: Path,
    t: NDArray[np.int64],
    *,
    width: int = 32,
    height: int = 24,
    seed: int = 0,
    compress: bool = False,
    attrs: bool = False,
    ms_to_idx: NDArray[np.int64] | None = None,
) -> Path:
    """A DSEC file with relative times `t` (µs, sorted) and random coordinates and polarities."""
    rng = np.random.default_rng(seed)
    n = t.shape[0]
    kwargs = dict(hdf5plugin.Blosc(cname="zstd")) if compress else {}
    if ms_to_idx is None:
        top = int(t[-1]) // 1000 + 2 if n else 1
        ms_to_idx = np.searchsorted(t, np.arange(top) * 1000, side="left")
    with h5py.File(path, "w") as h5:
        h5.create_dataset("events/x", data=rng.integers(0, width, n).astype(np.uint16), **kwargs)
        h5.create_dataset("events/y", data=rng.integers(0, height, n).astype(np.uint16), **kwargs)
        h5.create_dataset("events/p", data=rng.integers(0, 2, n).astype(np.uint8), **kwargs)
        h5.create_dataset("events/t", data=t.astype(np.uint32), **kwargs)
        h5.create_dataset("ms_to_idx", data=ms_to_idx.astype(np.uint64))
        h5.create_dataset("t_offset", data=np.int64(T_OFFSET_US))
        if attrs:
            h5.attrs["width"] = width
            h5.attrs["height"] = height
    return path


def random_times(n: int, seed: int = 0) -> NDArray[np.int64]:
    """Sorted µs times with duplicates, dense bursts and gaps of several milliseconds."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice(np.array([0, 0, 1, 3, 40, 700, 5_000]), size=n)
    return np.cumsum(gaps).astype(np.int64) + 250


def error_of(path: Path) -> str:
    with pytest.raises(RecordingError) as info:
        open_recording(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.h5"
    assert error_of(path) == f"{path}: no such file"


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    path.write_text("not a recording\n")
    assert error_of(path) == f"{path}: not an HDF5 file"


@pytest.mark.parametrize(
    "dataset", ["events/x", "events/y", "events/p", "events/t", "ms_to_idx", "t_offset"]
)
def test_missing_dataset_is_named(tmp_path: Path, dataset: str) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(100))
    with h5py.File(path, "a") as h5:
        del h5[dataset]
    assert error_of(path) == f"{path}: not a DSEC event recording: dataset {dataset} is missing"


def test_unknown_layout_lists_datasets(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("frames", data=np.zeros((2, 4, 4)))
    assert error_of(path) == (
        f"{path}: unknown event layout: found datasets frames; set recording.format and, "
        "for other layouts, recording.layout"
    )


def test_unequal_lengths_name_every_column(tmp_path: Path) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(100))
    with h5py.File(path, "a") as h5:
        del h5["events/p"]
        h5.create_dataset("events/p", data=np.zeros(99, dtype=np.uint8))
    message = error_of(path)
    assert "events/x, events/y, events/p, events/t differ in length" in message
    assert "(x=100, y=100, p=99, t=100)" in message


def test_zero_events(tmp_path: Path) -> None:
    path = write_dsec(tmp_path / "rec.h5", np.zeros(0, dtype=np.int64))
    assert error_of(path) == f"{path}: dataset events/t is empty: the recording has no events"


def test_truncated_file_becomes_recording_error(tmp_path: Path) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(1000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError) as info:
        open_recording(path)
    assert str(info.value).startswith(f"{path}: cannot open the file: ")
    assert isinstance(info.value.__cause__, OSError)


def test_corrupt_chunk_becomes_recording_error_on_read(tmp_path: Path) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(5000), compress=True)
    with h5py.File(path, "r") as h5:
        chunk = h5["events/x"].id.get_chunk_info(0)
    with path.open("r+b") as f:
        f.seek(chunk.byte_offset)
        f.write(b"\xff" * chunk.size)
    with open_recording(path) as rec, pytest.raises(RecordingError) as info:
        rec.read(0, 10)
    assert str(info.value).startswith(f"{path}: cannot read events [0, 10): ")
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("compress", [False, True])
def test_index_at_agrees_with_searchsorted(tmp_path: Path, compress: bool) -> None:
    t = random_times(3000, seed=3)
    path = write_dsec(tmp_path / "rec.h5", t, compress=compress)
    probes = np.unique(
        np.concatenate([t - 1, t, t + 1, np.arange(-2_000, int(t[-1]) + 3_000, 137)])
    )
    with open_recording(path) as rec:
        got = [rec.index_at(T_OFFSET_US + int(q)) for q in probes]
    assert got == np.searchsorted(t, probes, side="left").tolist()


def test_index_at_bisects_when_ms_to_idx_is_truncated(tmp_path: Path) -> None:
    t = np.sort(np.random.default_rng(5).integers(0, 3_000_000, 60_000)).astype(np.int64)
    path = write_dsec(tmp_path / "rec.h5", t, ms_to_idx=np.zeros(1, dtype=np.int64))
    probes = np.concatenate([t[::997], t[::991] + 1, [int(t[-1]) + 1]])
    with open_recording(path) as rec:
        got = [rec.index_at(T_OFFSET_US + int(q)) for q in probes]
    assert got == np.searchsorted(t, probes, side="left").tolist()


def test_properties_and_read(tmp_path: Path) -> None:
    t = random_times(500, seed=1)
    path = write_dsec(tmp_path / "rec.h5", t, seed=2)
    with h5py.File(path, "r") as h5:
        x, y, p = (h5[f"events/{c}"][:] for c in "xyp")
    with open_recording(path) as rec:
        assert isinstance(rec, Recording)
        assert (rec.path, rec.format, rec.event_count) == (path, "dsec", 500)
        assert rec.t_start_us == T_OFFSET_US + int(t[0])
        assert rec.t_end_us == T_OFFSET_US + int(t[-1]) + 1
        events = rec.read(100, 250)
    assert len(events) == 150
    dtypes = [a.dtype.name for a in (events.x, events.y, events.p, events.t_us)]
    assert dtypes == ["uint16", "uint16", "uint8", "int64"]
    np.testing.assert_array_equal(events.x, x[100:250])
    np.testing.assert_array_equal(events.y, y[100:250])
    np.testing.assert_array_equal(events.p, p[100:250])
    np.testing.assert_array_equal(events.t_us, t[100:250] + T_OFFSET_US)


@pytest.mark.parametrize(("i0", "i1"), [(-1, 5), (5, 4), (0, 501)])
def test_read_outside_the_file(tmp_path: Path, i0: int, i1: int) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(500))
    with open_recording(path) as rec, pytest.raises(RecordingError, match="outside dataset"):
        rec.read(i0, i1)


def test_empty_read(tmp_path: Path) -> None:
    with open_recording(write_dsec(tmp_path / "rec.h5", random_times(50))) as rec:
        assert len(rec.read(7, 7)) == 0


def test_size_from_attributes(tmp_path: Path) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(50), width=640, height=480, attrs=True)
    with open_recording(path) as rec:
        assert (rec.width, rec.height) == (640, 480)


def test_size_from_largest_coordinate(tmp_path: Path) -> None:
    path = write_dsec(tmp_path / "rec.h5", random_times(20_000), width=40, height=30)
    with h5py.File(path, "r") as h5:
        expected = (int(h5["events/x"][:].max()) + 1, int(h5["events/y"][:].max()) + 1)
    with open_recording(path) as rec:
        assert (rec.width, rec.height) == expected == (40, 30)


def test_closed_recording_raises_recording_error(tmp_path: Path) -> None:
    rec = open_recording(write_dsec(tmp_path / "rec.h5", random_times(50)))
    rec.close()
    with pytest.raises(RecordingError):
        rec.read(0, 5)
