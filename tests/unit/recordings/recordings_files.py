"""Small real HDF5 files in every layout labeller reads, written from one set of source events.

Each writer stores `Source` (absolute µs, 0/1 polarity) the way that layout does: relative or
float-second times, -1/+1 or bool polarity, compound or N×4 rows, each layout's own time index.
`compress` uses gzip or Blosc/zstd with small chunks, so reads cross many chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py  # type: ignore[import-untyped]
import hdf5plugin
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ECF_FILTER_ID",
    "ecf_file",
    "FORMATS",
    "Source",
    "prophesee_indexes",
    "random_source",
    "write",
    "write_dsec",
    "write_e2vid",
    "write_generic",
    "write_m3ed",
    "write_mvsec",
    "write_prophesee",
]

ECF_FILTER_ID = 0x8ECF
#: Layouts `write` knows; generic ones are written as four separate µs datasets.
FORMATS = ("dsec", "prophesee", "mvsec", "e2vid", "m3ed", "generic")
Compression = Literal["none", "gzip", "blosc"]
#: HDF5 chunk length (events) of compressed datasets: small, so reads span chunks.
CHUNK = 512


@dataclass(frozen=True)
class Source:
    """Events as labeller returns them: x, y (pixels), p (0/1), t_us (absolute µs, sorted)."""

    x: NDArray[np.uint16]
    y: NDArray[np.uint16]
    p: NDArray[np.uint8]
    t_us: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.t_us.shape[0])


def random_source(
    n: int, *, seed: int = 0, width: int = 40, height: int = 30, t0_us: int = 1_000_000
) -> Source:
    """Sorted times with duplicates, 1 µs steps, dense bursts and gaps of several ms."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice(np.array([0, 0, 1, 3, 40, 700, 2_500, 9_000]), size=n)
    return Source(
        x=rng.integers(0, width, n).astype(np.uint16),
        y=rng.integers(0, height, n).astype(np.uint16),
        p=rng.integers(0, 2, n).astype(np.uint8),
        t_us=(t0_us + np.cumsum(gaps)).astype(np.int64),
    )


def _filters(compress: Compression, n: int) -> dict[str, Any]:
    if compress == "none" or n == 0:
        return {}
    chunks = {"chunks": (min(CHUNK, n),)}
    if compress == "gzip":
        return {"compression": "gzip", **chunks}
    return {**dict(hdf5plugin.Blosc(cname="zstd")), **chunks}


def _vector(group: Any, name: str, data: NDArray[Any], compress: Compression) -> None:
    group.create_dataset(name, data=data, **_filters(compress, data.shape[0]))


def write_dsec(
    path: Path, src: Source, *, compress: Compression = "none", t_offset_us: int = 0
) -> Path:
    t = src.t_us - t_offset_us
    with h5py.File(path, "w") as h5:
        for name, data in (("x", src.x), ("y", src.y), ("p", src.p), ("t", t.astype(np.uint32))):
            _vector(h5, f"events/{name}", data, compress)
        top = int(t[-1]) // 1000 + 2 if len(src) else 1
        _vector(
            h5, "ms_to_idx", np.searchsorted(t, np.arange(top) * 1000).astype(np.uint64), compress
        )
        h5.create_dataset("t_offset", data=np.int64(t_offset_us))
    return path


def prophesee_indexes(t_us: NDArray[np.int64]) -> NDArray[Any]:
    """`CD/indexes` as Metavision's `HDF5EventFileWriter` writes them (openeb, 2 ms periods).

    Entry 0 is (0, -1); entry k ≥ 1 is the first event of period k - 1 counted from the first
    event, with its time relative to the first event, or a repeat of the previous entry when
    that period has no events.
    """
    dtype = np.dtype([("id", "<u8"), ("ts", "<i8")])
    rel = t_us - t_us[0]
    periods = rel // 2000
    entries = [(0, -1)]
    last = (0, -1)
    firsts = np.searchsorted(periods, np.arange(int(periods[-1]) + 1), side="left")
    for period, first in enumerate(firsts.tolist()):
        if first < len(periods) and periods[first] == period:
            last = (first, int(rel[first]))
        entries.append(last)
    return np.array(entries, dtype=dtype)


def write_prophesee(
    path: Path,
    src: Source,
    *,
    compress: Compression = "none",
    geometry: tuple[str, str | bytes] | None = ("root", "40x30"),
    indexes: bool = True,
    offset_attr: bool = True,
) -> Path:
    dtype = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "<i2"), ("t", "<i8")])
    rows = np.zeros(len(src), dtype=dtype)
    rows["x"], rows["y"], rows["p"], rows["t"] = src.x, src.y, src.p, src.t_us
    with h5py.File(path, "w") as h5:
        group = h5.create_group("CD")
        _vector(group, "events", rows, compress)
        if indexes and len(src):
            ds = group.create_dataset("indexes", data=prophesee_indexes(src.t_us))
            if offset_attr:
                ds.attrs["offset"] = str(-int(src.t_us[0]))
        if geometry is not None:
            node = h5 if geometry[0] == "root" else group
            value = geometry[1]
            node.attrs["geometry"] = value.encode("ascii") if isinstance(value, str) else value
    return path


def write_mvsec(
    path: Path,
    src: Source,
    *,
    compress: Compression = "none",
    camera: str = "left",
    other: Source | None = None,
) -> Path:
    """MVSEC rows x, y, t (float s), p (-1/+1); `other` goes to the other camera."""
    with h5py.File(path, "w") as h5:
        for cam, events in ((camera, src), ("right" if camera == "left" else "left", other)):
            if events is None:
                continue
            rows = np.stack(
                [events.x, events.y, events.t_us / 1e6, np.where(events.p > 0, 1.0, -1.0)], axis=1
            ).astype(np.float64)
            kwargs = _filters(compress, len(events))
            if "chunks" in kwargs:
                kwargs["chunks"] = (kwargs["chunks"][0], 4)
            h5.create_dataset(f"davis/{cam}/events", data=rows, **kwargs)
            h5.create_dataset(f"davis/{cam}/image_raw", data=np.zeros((2, 4, 4), np.uint8))
    return path


def write_e2vid(
    path: Path,
    src: Source,
    *,
    compress: Compression = "none",
    resolution: tuple[int, int] | None = (30, 40),
) -> Path:
    """event_utils layout; `resolution` is [height, width] as event_utils writes it."""
    with h5py.File(path, "w") as h5:
        _vector(h5, "events/xs", src.x.astype(np.int16), compress)
        _vector(h5, "events/ys", src.y.astype(np.int16), compress)
        _vector(h5, "events/ts", src.t_us / 1e6, compress)
        _vector(h5, "events/ps", src.p.astype(bool), compress)
        if resolution is not None:
            h5.attrs["sensor_resolution"] = np.array(resolution)
        h5.attrs["num_events"] = len(src)
    return path


def write_m3ed(
    path: Path,
    src: Source,
    *,
    compress: Compression = "none",
    camera: str = "left",
    other: Source | None = None,
    resolution: tuple[int, int] | None = (40, 30),
) -> Path:
    """M3ED layout; `resolution` is [width, height] as M3ED's calibration stores it."""
    with h5py.File(path, "w") as h5:
        for cam, events in ((camera, src), ("right" if camera == "left" else "left", other)):
            if events is None:
                continue
            base = f"prophesee/{cam}"
            _vector(h5, f"{base}/x", events.x, compress)
            _vector(h5, f"{base}/y", events.y, compress)
            _vector(h5, f"{base}/p", events.p.astype(np.int8), compress)
            _vector(h5, f"{base}/t", events.t_us, compress)
            top = int(events.t_us[-1]) // 1000 + 1 if len(events) else 1
            ms = np.searchsorted(events.t_us, np.arange(top) * 1000).astype(np.uint64)
            _vector(h5, f"{base}/ms_map_idx", ms, compress)
            if resolution is not None:
                h5.create_dataset(f"{base}/calib/resolution", data=np.array(resolution))
        h5.create_dataset("ovc/rgb/data", data=np.zeros((1, 4, 4), np.uint8))
    return path


def write_generic(
    path: Path,
    src: Source,
    *,
    compress: Compression = "none",
    shape: Literal["separate", "compound", "matrix"] = "separate",
    columns: tuple[str, str, str, str] = ("x", "y", "t", "p"),
    stored_t: NDArray[Any] | None = None,
) -> Path:
    """Generic layout: `stored_t` replaces the µs times (e.g. seconds or ns); p is -1/+1."""
    t = src.t_us if stored_t is None else stored_t
    p = np.where(src.p > 0, 1, -1).astype(np.int8)
    with h5py.File(path, "w") as h5:
        if shape == "separate":
            for name, data in (("x", src.x), ("y", src.y), ("p", p), ("t", t)):
                _vector(h5, f"cam/{name}", data, compress)
        elif shape == "compound":
            dtype = np.dtype([("t", t.dtype), ("x", "<u2"), ("y", "<u2"), ("p", "i1")])
            rows = np.zeros(len(src), dtype=dtype)
            rows["x"], rows["y"], rows["p"], rows["t"] = src.x, src.y, p, t
            _vector(h5, "cam/events", rows, compress)
        else:
            by_name = {"x": src.x, "y": src.y, "t": t, "p": p}
            rows = np.stack([by_name[c].astype(np.float64) for c in columns], axis=1)
            kwargs = _filters(compress, len(src))
            if "chunks" in kwargs:
                kwargs["chunks"] = (kwargs["chunks"][0], 4)
            h5.create_dataset("cam/events", data=rows, **kwargs)
    return path


def write(fmt: str, path: Path, src: Source, compress: Compression = "none") -> Path:
    """`src` in layout `fmt` with that layout's defaults (generic: separate µs datasets)."""
    if fmt == "dsec":
        return write_dsec(path, src, compress=compress, t_offset_us=int(src.t_us[0]) - 17)
    if fmt == "prophesee":
        return write_prophesee(path, src, compress=compress)
    if fmt == "mvsec":
        return write_mvsec(path, src, compress=compress)
    if fmt == "e2vid":
        return write_e2vid(path, src, compress=compress)
    if fmt == "m3ed":
        return write_m3ed(path, src, compress=compress)
    return write_generic(path, src, compress=compress)


def ecf_file(path: Path, code: int = ECF_FILTER_ID) -> Path:
    """A Prophesee file whose events pass through filter `code`, chunks written raw."""
    src = random_source(64)
    dtype = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "<i2"), ("t", "<i8")])
    rows = np.zeros(64, dtype=dtype)
    rows["x"], rows["y"], rows["p"], rows["t"] = src.x, src.y, src.p, src.t_us
    with h5py.File(path, "w") as h5:
        events = h5.create_group("CD").create_dataset(
            "events",
            shape=(64,),
            maxshape=(None,),
            chunks=(32,),
            dtype=dtype,
            compression=code,
            allow_unknown_filter=True,
        )
        for start in (0, 32):
            events.id.write_direct_chunk((start,), rows[start : start + 32].tobytes())
        h5.attrs["geometry"] = "40x30"
    return path
