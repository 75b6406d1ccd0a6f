"""Bad input in every layout: one `RecordingError` line naming the file, the dataset, the fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

from labeller.config import LayoutSettings, RecordingSettings
from labeller.errors import RecordingError
from labeller.recordings import open_recording
from tests.unit.recordings.recordings_files import (
    ECF_FILTER_ID,
    FORMATS,
    ecf_file,
    random_source,
    write,
)

GENERIC = RecordingSettings(
    format="generic", layout=LayoutSettings(x="cam/x", y="cam/y", t="cam/t", p="cam/p")
)
#: One dataset of each layout, deleted or shortened by the tests below.
EVENT_DATASET = {
    "dsec": "events/t",
    "prophesee": "CD/events",
    "mvsec": "davis/left/events",
    "e2vid": "events/ts",
    "m3ed": "prophesee/left/t",
    "generic": "cam/t",
}
#: Two parallel datasets of each layout with separate x/t datasets.
PARALLEL = {
    "dsec": ("events/p", "events/t"),
    "e2vid": ("events/ps", "events/ts"),
    "m3ed": ("prophesee/left/p", "prophesee/left/t"),
    "generic": ("cam/p", "cam/t"),
}


def options_for(fmt: str) -> RecordingSettings | None:
    return GENERIC if fmt == "generic" else None


def error_of(path: Path, options: RecordingSettings | None = None) -> RecordingError:
    with pytest.raises(RecordingError) as info:
        open_recording(path, options)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return info.value


def replace(path: Path, name: str, data: Any, **kwargs: Any) -> None:
    with h5py.File(path, "a") as h5:
        del h5[name]
        h5.create_dataset(name, data=data, **kwargs)


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    path.write_bytes(b"x,y,t,p\n1,2,3,1\n")
    assert str(error_of(path)) == f"{path}: not an HDF5 file"


def test_directory(tmp_path: Path) -> None:
    assert str(error_of(tmp_path)) == f"{tmp_path}: is a directory, not a file"


def test_truncated_file(tmp_path: Path) -> None:
    path = write("dsec", tmp_path / "rec.h5", random_source(5000))
    path.write_bytes(path.read_bytes()[:4096])
    error = error_of(path)
    assert str(error).startswith(f"{path}: cannot open the file: ")
    assert isinstance(error.__cause__, OSError)


@pytest.mark.parametrize("keep", [600, 2048, 4096, 12_000])
@pytest.mark.parametrize("fmt", ["dsec", "prophesee", "e2vid"])
def test_header_then_garbage(tmp_path: Path, fmt: str, keep: int) -> None:
    """A file whose first `keep` bytes are intact and the rest random: a clean one-line error."""
    path = write(fmt, tmp_path / "rec.h5", random_source(5000), "gzip")
    data = path.read_bytes()
    garbage = np.random.default_rng(keep).integers(0, 256, len(data) - keep, dtype=np.uint8)
    path.write_bytes(data[:keep] + garbage.tobytes())
    with pytest.raises(RecordingError) as info:
        with open_recording(path) as rec:
            rec.read(0, rec.event_count)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert isinstance(info.value.__cause__, OSError | RuntimeError | KeyError)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_dataset_is_named(tmp_path: Path, fmt: str) -> None:
    path = write(fmt, tmp_path / "rec.h5", random_source(100))
    name = EVENT_DATASET[fmt]
    with h5py.File(path, "a") as h5:
        del h5[name]
        if fmt == "mvsec":  # keep the davis group, as a half-copied file would
            h5.create_group("davis/left/other")
    message = str(error_of(path, options_for(fmt)))
    assert f"dataset {name} " in message and message.endswith(" is missing")


@pytest.mark.parametrize("fmt", sorted(PARALLEL))
def test_unequal_lengths(tmp_path: Path, fmt: str) -> None:
    path = write(fmt, tmp_path / "rec.h5", random_source(100))
    shorter, other = PARALLEL[fmt]
    with h5py.File(path, "r") as h5:
        values = h5[shorter][:99]
    replace(path, shorter, values)
    message = str(error_of(path, options_for(fmt)))
    assert "differ in length" in message
    assert shorter in message and other in message
    assert f"{shorter.rsplit('/', 1)[1]}=99" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_events(tmp_path: Path, fmt: str) -> None:
    path = write(fmt, tmp_path / "rec.h5", random_source(100))
    with h5py.File(path, "a") as h5:
        names: list[str] = []
        h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            ds = h5[name]
            if ds.ndim >= 1 and ds.shape[0] == 100:
                del h5[name]
                h5.create_dataset(name, shape=(0, *ds.shape[1:]), dtype=ds.dtype)
    message = str(error_of(path, options_for(fmt)))
    assert message.endswith(f"dataset {EVENT_DATASET[fmt]} is empty: the recording has no events")


def test_unknown_layout_lists_the_first_datasets(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        for i in range(8):
            h5.create_dataset(f"frames/f{i}", data=np.zeros(3))
    assert str(error_of(path)) == (
        f"{path}: unknown event layout: found datasets frames/f0, frames/f1, frames/f2, "
        "frames/f3, frames/f4, …; set recording.format and, for other layouts, recording.layout"
    )


def test_empty_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.h5"
    h5py.File(path, "w").close()
    assert "unknown event layout: found no datasets" in str(error_of(path))


@pytest.mark.parametrize(
    ("forced", "written", "expected"),
    [
        (
            "prophesee",
            "dsec",
            "recording.format is prophesee but the file has no CD group; it looks like dsec",
        ),
        (
            "dsec",
            "e2vid",
            "recording.format is dsec but the file has no events group with "
            "x, y, p, t; it looks like e2vid",
        ),
        (
            "mvsec",
            "generic",
            "recording.format is mvsec but the file has no davis group; "
            "found datasets cam/p, cam/t, cam/x, cam/y",
        ),
    ],
)
def test_forced_format_mismatch(tmp_path: Path, forced: str, written: str, expected: str) -> None:
    path = write(written, tmp_path / "rec.h5", random_source(100))
    options = RecordingSettings(format=forced)  # type: ignore[arg-type]
    assert str(error_of(path, options)) == f"{path}: {expected}"


def test_generic_layout_names_the_setting(tmp_path: Path) -> None:
    path = write("generic", tmp_path / "rec.h5", random_source(100))
    layout = LayoutSettings(x="cam/x", y="cam/y", t="cam/time", p="cam/p")
    options = RecordingSettings(format="generic", layout=layout)
    assert str(error_of(path, options)) == (
        f"{path}: dataset cam/time named by recording.layout.t is missing"
    )


def test_generic_matrix_too_narrow(tmp_path: Path) -> None:
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("ev", data=np.zeros((10, 3)))
    options = RecordingSettings(format="generic", layout=LayoutSettings(events="ev"))
    assert "dataset ev must be an N×" in str(error_of(path, options))


def test_ecf_codec_without_its_plugin(tmp_path: Path) -> None:
    path = ecf_file(tmp_path / "metavision.hdf5")
    with h5py.File(path, "r") as h5:
        plist = h5["CD/events"].id.get_create_plist()
        assert plist.get_filter(0)[0] == ECF_FILTER_ID
    assert not h5py.h5z.filter_avail(ECF_FILTER_ID), "an ECF plugin is installed here"
    assert str(error_of(path)) == (
        f"{path}: dataset CD/events uses Prophesee's ECF codec (HDF5 filter 0x8ECF); install "
        "Prophesee's hdf5_ecf plugin and point HDF5_PLUGIN_PATH at it"
    )


def test_other_unavailable_filter_is_named(tmp_path: Path) -> None:
    path = ecf_file(tmp_path / "odd.h5", code=47_999)
    assert str(error_of(path)) == (
        f"{path}: dataset CD/events uses HDF5 filter 47999 (0xBB7F), which is not available "
        "here; install its plugin and point HDF5_PLUGIN_PATH at it"
    )


@pytest.mark.parametrize(
    ("fmt", "where", "value", "expected"),
    [
        ("prophesee", None, "640 by 480", "attribute geometry of the root group must look like"),
        ("e2vid", None, np.array([0, 40]), "attribute sensor_resolution must be [height, width]"),
        ("prophesee", "CD/indexes", "minus 54", "attribute offset of CD/indexes must be one"),
    ],
)
def test_bad_size_or_index_attributes(
    tmp_path: Path, fmt: str, where: str | None, value: Any, expected: str
) -> None:
    path = write(fmt, tmp_path / "rec.h5", random_source(100))
    name = {"prophesee": "geometry", "e2vid": "sensor_resolution"}[fmt]
    with h5py.File(path, "a") as h5:
        node = h5 if where is None else h5[where]
        node.attrs["offset" if where else name] = value
    assert expected in str(error_of(path))


def test_bad_m3ed_resolution(tmp_path: Path) -> None:
    path = write("m3ed", tmp_path / "rec.h5", random_source(100))
    replace(path, "prophesee/left/calib/resolution", np.array([640, 480, 3]))
    assert str(error_of(path)) == (
        f"{path}: dataset prophesee/left/calib/resolution must be [width, height] in pixels"
    )


def test_text_timestamps_are_refused(tmp_path: Path) -> None:
    path = write("e2vid", tmp_path / "rec.h5", random_source(10))
    replace(path, "events/ts", np.array([b"0.1"] * 10))
    assert str(error_of(path)).endswith("dataset events/ts has dtype |S3, not numbers")


def test_corrupt_chunk_names_the_dataset(tmp_path: Path) -> None:
    path = write("e2vid", tmp_path / "rec.h5", random_source(5000), "gzip")
    with h5py.File(path, "r") as h5:
        chunk = h5["events/xs"].id.get_chunk_info(3)
    with path.open("r+b") as f:
        f.seek(chunk.byte_offset)
        f.write(b"\xff" * chunk.size)
    with open_recording(path) as rec, pytest.raises(RecordingError) as info:
        rec.read(0, 5000)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot read events [0, 5000): dataset events/xs: ")
    assert "\n" not in message and isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("index", [-1, 100, 10**9])
def test_time_at_outside(tmp_path: Path, index: int) -> None:
    with open_recording(write("m3ed", tmp_path / "rec.h5", random_source(100))) as rec:
        with pytest.raises(RecordingError) as info:
            rec.time_at(index)
    assert str(info.value) == (
        f"{tmp_path / 'rec.h5'}: event {index} is outside dataset prophesee/left/t of 100 events"
    )
