"""A synthetic DSEC recording for demos and tests: two discs and a bar moving over noise.

Shapes are brighter than the background, so each moving edge fires ON events on its leading
side and OFF on its trailing side; consecutive frames therefore differ. Every `pause_every_s`
the shapes stop for the last `pause_s` of the period and resume where they stopped: a still
scene fires no events, so only sparse noise remains and the frames of a pause look alike (what
the near-duplicate caption cache is for). Events are generated and written `_CHUNK_US` at a
time, so memory stays bounded however long the recording.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import hdf5plugin
import numpy as np
from numpy.typing import NDArray

from labeller.errors import ConfigError, RecordingError

__all__ = ["SampleInfo", "write_sample"]

#: Generation step (µs): one vectorised batch of events per step.
_CHUNK_US = 10_000
#: Events buffered before a write to HDF5 (events); ~13 MB.
_FLUSH_EVENTS = 1 << 20
#: HDF5 chunk length (elements) of every dataset.
_H5_CHUNK = 1 << 16
#: `t_offset` (epoch µs): 2022-04-15, when DSEC-era sequences were typically recorded.
_T_OFFSET_US = 1_650_000_000_000_000
#: Share of events that are uniform sensor noise; the rest split evenly over the three shapes.
_NOISE_SHARE = 0.05
#: Largest duration whose relative timestamps fit DSEC's uint32 `events/t` (s).
_MAX_DURATION_S = (2**32 - 1) / 1e6

_Array = NDArray[np.float64]
#: Centre x, centre y (pixels) and velocity x, y (pixels/s) at each requested time.
_Trajectory = tuple[_Array, _Array, _Array, _Array]


@dataclass(frozen=True)
class SampleInfo:
    """What `write_sample` wrote: file, event count, duration (s) and sensor size (pixels)."""

    path: Path
    events: int
    duration_s: float
    width: int
    height: int


def write_sample(
    path: Path,
    *,
    duration_s: float = 10.0,
    width: int = 640,
    height: int = 480,
    rate_hz: float = 1e6,
    seed: int = 0,
    compress: bool = True,
    pause_every_s: float = 5.0,
    pause_s: float = 1.0,
) -> SampleInfo:
    """Write a DSEC-layout recording of `duration_s` seconds at about `rate_hz` events/s.

    The shapes stand still for the last `pause_s` of every `pause_every_s` seconds (4-5 s,
    9-10 s, ... with the defaults); during a pause the rate drops to the noise share (5 % of
    `rate_hz`), so the file holds fewer events than `rate_hz × duration_s`. `pause_s=0` keeps
    them moving throughout. The same `seed` always writes the same events. `compress` uses
    Blosc/zstd, as public DSEC files do. Raises `ConfigError` naming the parameter when a value
    is out of range.
    """
    _validate(duration_s, width=width, height=height, pause_every_s=pause_every_s, pause_s=pause_s)
    timeline = _Timeline(round(pause_every_s * 1e6), round(pause_s * 1e6), rate_hz)
    duration_us = round(duration_s * 1e6)
    if not rate_hz * duration_s >= 1 or timeline.expected(duration_us) < 1:
        raise ConfigError(f"rate_hz × duration_s must give at least one event, got {rate_hz} Hz")
    path = Path(path)
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0.0, 2 * math.pi, size=4)
    # zstd level 3: level 5 saves ~2% of the bytes for ~50% more write time.
    filters: dict[str, Any] = (
        dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.SHUFFLE))
        if compress
        else {}
    )
    total = 0
    try:
        h5 = h5py.File(path, "w")
    except OSError as exc:
        reason = "is a directory" if path.is_dir() else "cannot create the file"
        raise RecordingError(f"{path}: {reason}") from exc
    with h5:
        h5.attrs["width"] = width
        h5.attrs["height"] = height
        h5.create_dataset("t_offset", data=np.int64(_T_OFFSET_US))
        columns = {
            name: h5.create_dataset(
                name, shape=(0,), maxshape=(None,), chunks=(_H5_CHUNK,), dtype=dtype, **filters
            )
            for name, dtype in (
                ("events/x", np.uint16),
                ("events/y", np.uint16),
                ("events/p", np.uint8),
                ("events/t", np.uint32),
                ("ms_to_idx", np.uint64),
            )
        }
        pending: dict[str, list[NDArray[Any]]] = {name: [] for name in columns}
        buffered = 0
        for c0, c1, paused in timeline.segments(duration_us):
            n = timeline.expected(c1) - timeline.expected(c0)
            x, y, p, t = _chunk(rng, phases, c0, c1, n, width, height, timeline, paused)
            # The ms marks inside [c0, c1); pause edges need not fall on a ms.
            ms = np.arange(-(-c0 // 1000), -(-c1 // 1000), dtype=np.int64) * 1000
            starts = total + buffered + np.searchsorted(t, ms, side="left")
            parts: list[NDArray[Any]] = [x, y, p, t, starts]
            for name, values in zip(columns, parts, strict=True):
                pending[name].append(values)
            buffered += n
            if buffered >= _FLUSH_EVENTS:
                _flush(columns, pending)
                total, buffered = total + buffered, 0
        pending["ms_to_idx"].append(np.array([total + buffered]))
        _flush(columns, pending)
        total += buffered
    return SampleInfo(path=path, events=total, duration_s=duration_s, width=width, height=height)


def _validate(
    duration_s: float, *, width: int, height: int, pause_every_s: float, pause_s: float
) -> None:
    if not 0 < duration_s <= _MAX_DURATION_S:
        raise ConfigError(f"duration_s must be in (0, {_MAX_DURATION_S:.0f}] s, got {duration_s}")
    for name, value in (("width", width), ("height", height)):
        if not 1 <= value <= 65535:
            raise ConfigError(f"{name} must be in [1, 65535] pixels, got {value}")
    if not 0 <= pause_s <= _MAX_DURATION_S:
        raise ConfigError(f"pause_s must be in [0, {_MAX_DURATION_S:.0f}] s, got {pause_s}")
    if pause_s > 0 and not pause_s < pause_every_s <= _MAX_DURATION_S:
        raise ConfigError(f"pause_every_s must exceed pause_s ({pause_s} s), got {pause_every_s}")


@dataclass(frozen=True)
class _Timeline:
    """When the shapes move: each `period_us` ends with `pause_us` of stillness (µs)."""

    period_us: int
    pause_us: int
    rate_hz: float

    @property
    def moving_us(self) -> int:
        return self.period_us - self.pause_us

    def segments(self, duration_us: int) -> Iterator[tuple[int, int, bool]]:
        """`[c0, c1)` spans of at most `_CHUNK_US` (µs), each wholly moving or wholly paused."""
        if self.pause_us <= 0:
            for c0 in range(0, duration_us, _CHUNK_US):
                yield c0, min(c0 + _CHUNK_US, duration_us), False
            return
        for start in range(0, duration_us, self.period_us):
            stop = start + self.moving_us
            for a, b, paused in ((start, stop, False), (stop, start + self.period_us, True)):
                for c0 in range(a, min(b, duration_us), _CHUNK_US):
                    yield c0, min(c0 + _CHUNK_US, b, duration_us), paused

    def motion_us(self, t_us: NDArray[np.int64]) -> NDArray[np.int64]:
        """How long (µs) the shapes have moved by time `t_us`: their position's clock."""
        if self.pause_us <= 0:
            return t_us
        periods, into = np.divmod(t_us, self.period_us)
        moved: NDArray[np.int64] = periods * self.moving_us + np.minimum(into, self.moving_us)
        return moved

    def expected(self, t_us: int) -> int:
        """Events written before `t_us`: `rate_hz` while moving, its noise share in pauses."""
        moved = int(self.motion_us(np.array([t_us], dtype=np.int64))[0])
        return math.floor(self.rate_hz * (moved + _NOISE_SHARE * (t_us - moved)) / 1e6)


def _flush(columns: dict[str, Any], pending: dict[str, list[NDArray[Any]]]) -> None:
    """Append each column's buffered arrays to its resizable dataset and clear the buffers."""
    for name, parts in pending.items():
        if not parts:
            continue
        values = np.concatenate(parts)
        dataset = columns[name]
        start = int(dataset.shape[0])
        dataset.resize((start + values.shape[0],))
        dataset[start:] = values
        parts.clear()


def _chunk(
    rng: np.random.Generator,
    phases: NDArray[np.float64],
    c0: int,
    c1: int,
    n: int,
    width: int,
    height: int,
    timeline: _Timeline,
    paused: bool,
) -> tuple[NDArray[np.uint16], NDArray[np.uint16], NDArray[np.uint8], NDArray[np.uint32]]:
    """`n` events with sorted times in `[c0, c1)` (µs relative to `t_offset`); noise if paused."""
    # Sorted uniform times without a sort: normalised cumulative sums of exponential gaps.
    gaps = np.cumsum(rng.standard_exponential(n + 1))
    t = c0 + np.floor(gaps[:-1] * ((c1 - c0) / gaps[-1])).astype(np.int64)
    t_s = timeline.motion_us(t) / 1e6
    # 0, 1: a disc; 2: the bar; 3: noise. A still scene fires no events: only noise is left.
    kind = (
        np.full(n, 3)
        if paused
        else np.searchsorted(np.cumsum([(1 - _NOISE_SHARE) / 3] * 3), rng.random(n), side="right")
    )
    x = np.empty(n)
    y = np.empty(n)
    p = np.empty(n, dtype=bool)
    side = min(width, height)
    sel = kind == 0
    x[sel], y[sel], p[sel] = _disc_edges(
        rng, _orbit(t_s[sel], width, height, phases[0]), 0.08 * side
    )
    sel = kind == 1
    x[sel], y[sel], p[sel] = _disc_edges(
        rng, _lissajous(t_s[sel], width, height, phases[1], phases[2]), 0.06 * side
    )
    sel = kind == 2
    bx, bvx = _bar(t_s[sel], width, phases[3])
    edge = np.where(rng.random(bx.shape) < 0.5, -1.0, 1.0)
    x[sel] = bx + edge * 0.02 * width + rng.normal(0, 0.5, size=bx.shape)
    y[sel] = height * rng.uniform(0.25, 0.75, size=bx.shape)
    p[sel] = edge * bvx > 0
    sel = kind == 3
    noise = int(np.count_nonzero(sel))
    x[sel] = rng.uniform(0, width, size=noise)
    y[sel] = rng.uniform(0, height, size=noise)
    p[sel] = rng.random(noise) < 0.5
    return (
        np.clip(np.floor(x), 0, width - 1).astype(np.uint16),
        np.clip(np.floor(y), 0, height - 1).astype(np.uint16),
        p.astype(np.uint8),
        t.astype(np.uint32),
    )


def _disc_edges(
    rng: np.random.Generator, trajectory: _Trajectory, radius: float
) -> tuple[_Array, _Array, NDArray[np.bool_]]:
    """Events on the rim of a disc of `radius` pixels: x, y (pixels) and ON where it advances."""
    cx, cy, vx, vy = trajectory
    angle = rng.uniform(0, 2 * math.pi, size=cx.shape)
    nx, ny = np.cos(angle), np.sin(angle)
    rim = radius + rng.normal(0, 0.5, size=cx.shape)
    return cx + rim * nx, cy + rim * ny, nx * vx + ny * vy > 0


def _orbit(t_s: _Array, width: int, height: int, phase: float) -> _Trajectory:
    """Centre (pixels) and velocity (pixels/s) of a disc circling the sensor centre every 4 s."""
    omega, r = 2 * math.pi / 4.0, 0.3 * min(width, height)
    a = omega * t_s + phase
    return (
        width / 2 + r * np.cos(a),
        height / 2 + r * np.sin(a),
        -r * omega * np.sin(a),
        r * omega * np.cos(a),
    )


def _lissajous(t_s: _Array, width: int, height: int, phase_x: float, phase_y: float) -> _Trajectory:
    """Centre (pixels) and velocity (pixels/s) of a disc on a slow Lissajous figure."""
    wx, wy = 2 * math.pi * 0.23, 2 * math.pi * 0.31
    ax, ay = 0.35 * width, 0.35 * height
    return (
        width / 2 + ax * np.sin(wx * t_s + phase_x),
        height / 2 + ay * np.sin(wy * t_s + phase_y),
        ax * wx * np.cos(wx * t_s + phase_x),
        ay * wy * np.cos(wy * t_s + phase_y),
    )


def _bar(t_s: _Array, width: int, phase: float) -> tuple[_Array, _Array]:
    """Centre x (pixels) and x velocity (pixels/s) of a vertical bar swinging left and right."""
    w = 2 * math.pi * 0.17
    a = 0.4 * width
    return width / 2 + a * np.sin(w * t_s + phase), a * w * np.cos(w * t_s + phase)
