"""One chunked pass over a recording: sortedness, coordinate range and event rates.

Memory is one chunk of events plus one counter per `PEAK_BIN_US` of the duration; bins widen
so there are never more than `_MAX_BINS`, which keeps a file with absurd timestamps from
exhausting memory (the peak is then measured over the wider bins, as `peak_bin_us` says).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labeller.errors import ConfigError, RecordingError
from labeller.recordings.recording import Recording

__all__ = ["PEAK_BIN_US", "ScanReport", "scan_recording", "validate_recording"]

#: Bin over which the peak rate is measured (µs): 10 ms, less noisy than 1 ms bins.
PEAK_BIN_US = 10_000
#: Most rate bins kept in memory (8 bytes each): 10 ms bins cover 11.6 hours.
_MAX_BINS = 1 << 22


@dataclass(frozen=True)
class ScanReport:
    """What a scan saw: counts, order, largest coordinates (pixels) and rates (events/s).

    `peak_rate_hz` is the busiest `peak_bin_us` bin (aligned to the first event) divided by
    the bin length; a recording shorter than one bin reports its mean rate instead. A final
    partial bin is still divided by the full length, so a short tail never inflates the peak.
    `mean_rate_hz` is events / (t_end_us - t_start_us). Events outside the first-to-last time
    range (only in unsorted files) are counted in the nearest bin.
    """

    events: int
    sorted: bool
    first_unsorted: int | None
    max_x: int
    max_y: int
    mean_rate_hz: float
    peak_rate_hz: float
    #: Time (µs) of event `first_unsorted` and of the event just before it; None when sorted.
    unsorted_t_us: int | None = None
    previous_t_us: int | None = None
    #: Length of the bins the peak was measured over (µs).
    peak_bin_us: int = PEAK_BIN_US


def scan_recording(
    recording: Recording,
    *,
    chunk_events: int = 1 << 20,
    progress: Callable[[int], None] | None = None,
) -> ScanReport:
    """Read every event once, `chunk_events` at a time, calling `progress(events_so_far)`.

    Also settles the sensor size of a recording that has to derive it from the coordinates,
    sparing `width`/`height` a second pass. Raises `RecordingError` if a read fails.
    """
    if chunk_events < 1:
        raise ConfigError(f"chunk_events must be positive, got {chunk_events}")
    n = recording.event_count
    t0 = recording.t_start_us
    span_us = max(recording.t_end_us - t0, 1)
    bin_us = PEAK_BIN_US * max(1, -(-span_us // (PEAK_BIN_US * _MAX_BINS)))
    counts = np.zeros(-(-span_us // bin_us), dtype=np.int64)
    max_x = max_y = 0
    previous: int | None = None
    first_unsorted: int | None = None
    unsorted_t: int | None = None
    before_t: int | None = None
    for i0 in range(0, n, chunk_events):
        i1 = min(i0 + chunk_events, n)
        events = recording.read(i0, i1)
        t = events.t_us
        if first_unsorted is None:
            drop = _first_drop(t, previous)
            if drop is not None:
                first_unsorted = i0 + drop
                unsorted_t = int(t[drop])
                before_t = int(t[drop - 1]) if drop > 0 else previous
        previous = int(t[-1])
        max_x = max(max_x, int(events.x.max()))
        max_y = max(max_y, int(events.y.max()))
        _count(counts, t, t0, bin_us)
        if progress is not None:
            progress(i1)
    recording._settle_size(max_x, max_y)
    mean = n * 1e6 / span_us
    peak = mean if span_us < bin_us else float(counts.max()) * 1e6 / bin_us
    return ScanReport(
        events=n,
        sorted=first_unsorted is None,
        first_unsorted=first_unsorted,
        max_x=max_x,
        max_y=max_y,
        mean_rate_hz=mean,
        peak_rate_hz=peak,
        unsorted_t_us=unsorted_t,
        previous_t_us=before_t,
        peak_bin_us=bin_us,
    )


def _first_drop(t: NDArray[np.int64], previous: int | None) -> int | None:
    """Position in `t` of the first time earlier than the one before it, else None."""
    if previous is not None and int(t[0]) < previous:
        return 0
    drops = np.flatnonzero(t[1:] < t[:-1])
    return int(drops[0]) + 1 if drops.size else None


def _count(counts: NDArray[np.int64], t: NDArray[np.int64], t0: int, bin_us: int) -> None:
    """Add each event of `t` to its bin; a sorted chunk touches only its own stretch of bins."""
    bins = np.clip((t - t0) // bin_us, 0, counts.shape[0] - 1)
    lo = int(bins.min())
    added = np.bincount(bins - lo)
    counts[lo : lo + added.shape[0]] += added


def validate_recording(recording: Recording, report: ScanReport) -> None:
    """Raise `RecordingError` if `report` shows unsorted times or coordinates off the sensor."""
    path, datasets = recording.path, recording.datasets
    if not report.sorted and report.first_unsorted is not None:
        i = report.first_unsorted
        at = _seconds(report.unsorted_t_us)
        before = _seconds(report.previous_t_us)
        raise RecordingError(
            f"{path}: timestamps in {datasets['t']} are not sorted: event {i} at {at} s "
            f"comes before event {i - 1} at {before} s"
        )
    width, height = recording.width, recording.height
    for axis, top, limit in (("x", report.max_x, width), ("y", report.max_y, height)):
        if top >= limit:
            raise RecordingError(
                f"{path}: {axis} up to {top} in {datasets[axis]} but the sensor is {width}x{height}"
            )


def _seconds(t_us: int | None) -> str:
    """µs as exact decimal seconds ("5.000123"); float formatting would lose epoch µs."""
    if t_us is None:
        return "?"
    sign = "-" if t_us < 0 else ""
    whole, frac = divmod(abs(t_us), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"
