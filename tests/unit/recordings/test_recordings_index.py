"""Time lookups: files' own indexes are used, wrong ones cannot mislead, and memory stays small."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

from labeller.config import LayoutSettings, RecordingSettings
from labeller.recordings import open_recording
from tests.unit.recordings.recordings_files import (
    Source,
    prophesee_indexes,
    random_source,
    write_dsec,
    write_generic,
    write_m3ed,
    write_prophesee,
)

#: (dataset name, elements returned) of every h5py dataset read while counting.
Reads = list[tuple[str, int]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    """Record every `h5py.Dataset.__getitem__`, without subclassing h5py's classes."""
    seen: Reads = []
    original = h5py.Dataset.__getitem__

    def counting(self: Any, args: Any, new_dtype: Any = None) -> Any:
        result = original(self, args, new_dtype)
        seen.append((self.name.lstrip("/"), int(np.size(result))))
        return result

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    yield seen


def test_prophesee_indexes_follow_metavision() -> None:
    """Placeholder first, then each 2 ms period's first event, repeated over empty periods."""
    t = np.array([54, 60, 2053, 2100, 9000, 9001, 11_060], dtype=np.int64)
    got = prophesee_indexes(t).tolist()
    assert got == [
        (0, -1),
        (0, 0),  # [54, 2054): events 0-2
        (3, 2046),  # [2054, 4054): event 3
        (3, 2046),  # [4054, 6054): empty, repeats
        (3, 2046),  # [6054, 8054): empty, repeats
        (4, 8946),  # [8054, 10054): event 4
        (6, 11_006),  # [10054, 12054): event 6
    ]


@pytest.mark.parametrize("fmt", ["dsec", "prophesee", "m3ed"])
def test_own_index_means_one_read_of_the_times(tmp_path: Path, fmt: str, reads: Reads) -> None:
    """In a dense stretch the index brackets the answer: one small read of the timestamps."""
    t = 1_000_000 + np.arange(0, 20_000_000, 50, dtype=np.int64)  # 20 events per ms
    n = t.shape[0]
    src = Source(np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.zeros(n, np.uint8), t)
    if fmt == "dsec":
        path = write_dsec(tmp_path / "rec.h5", src, t_offset_us=1_000_000)
        times = "events/t"
    elif fmt == "prophesee":
        path = write_prophesee(tmp_path / "rec.h5", src)
        times = "CD/events"
    else:
        path = write_m3ed(tmp_path / "rec.h5", src)
        times = "prophesee/left/t"
    probes = np.random.default_rng(0).integers(int(t[0]) + 1, int(t[-1]), 200)
    with open_recording(path) as rec:
        reads.clear()
        got = [rec.index_at(int(q)) for q in probes]
    assert got == np.searchsorted(t, probes).tolist()
    event_reads = [size for name, size in reads if name == times]
    assert len(event_reads) == len(probes)
    assert max(event_reads) <= 2 * 2 * 20 + 2


@pytest.mark.parametrize("variant", ["garbage", "shifted", "no-offset", "truncated"])
def test_wrong_prophesee_index_cannot_mislead(tmp_path: Path, variant: str) -> None:
    src = random_source(6000, seed=9, t0_us=123_456_789)
    path = write_prophesee(
        tmp_path / "rec.h5", src, compress="gzip", offset_attr=variant != "no-offset"
    )
    with h5py.File(path, "a") as h5:
        ds = h5["CD/indexes"]
        entries = ds[:]
        if variant == "garbage":
            entries["id"] = np.random.default_rng(1).integers(0, 2 * len(src), len(entries))
        elif variant == "shifted":  # the other reading of the format: no placeholder entry
            entries["id"][:-1] = entries["id"][1:]
        if variant == "truncated":
            del h5["CD/indexes"]
            h5.create_dataset("CD/indexes", data=entries[:10])
        else:
            ds[:] = entries
    t = src.t_us
    probes = np.unique(np.concatenate([t[::7], t[::11] + 1, t[::13] - 1]))
    with open_recording(path) as rec:
        got = [rec.index_at(int(q)) for q in probes]
    assert got == np.searchsorted(t, probes).tolist()


def test_dsec_index_with_wrong_entries(tmp_path: Path) -> None:
    src = random_source(5000, seed=3, t0_us=10_000)
    path = write_dsec(tmp_path / "rec.h5", src, t_offset_us=0)
    with h5py.File(path, "a") as h5:
        ms = h5["ms_to_idx"][:]
        h5["ms_to_idx"][:] = np.random.default_rng(2).permutation(ms)
    probes = np.unique(np.concatenate([src.t_us[::5], src.t_us[::9] + 1]))
    with open_recording(path) as rec:
        got = [rec.index_at(int(q)) for q in probes]
    assert got == np.searchsorted(src.t_us, probes).tolist()


@pytest.fixture(scope="module")
def big_generic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """2e6 events in the generic layout: no time index, so every lookup bisects."""
    n = 2_000_000
    rng = np.random.default_rng(11)
    t = 5_000_000 + np.cumsum(rng.integers(0, 4, n)).astype(np.int64)
    src = Source(
        x=rng.integers(0, 640, n).astype(np.uint16),
        y=rng.integers(0, 480, n).astype(np.uint16),
        p=rng.integers(0, 2, n).astype(np.uint8),
        t_us=t,
    )
    path = tmp_path_factory.mktemp("big") / "big.h5"
    write_generic(path, src, compress="gzip")
    return path, t


def test_lookups_on_2e6_events_read_small_slices(
    big_generic: tuple[Path, np.ndarray], reads: Reads
) -> None:
    path, t = big_generic
    layout = LayoutSettings(x="cam/x", y="cam/y", t="cam/t", p="cam/p")
    probes = np.random.default_rng(4).integers(int(t[0]) - 10, int(t[-1]) + 10, 100)
    with open_recording(path, RecordingSettings(format="generic", layout=layout)) as rec:
        reads.clear()
        tracemalloc.start()
        try:
            got = [rec.index_at(int(q)) for q in probes]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got == np.searchsorted(t, probes).tolist()
    assert peak < 5 * 2**20
    assert {name for name, _ in reads} == {"cam/t"}
    assert sum(size for _, size in reads) < 100 * ((1 << 14) + 64)
    assert max(size for _, size in reads) <= 1 << 14
