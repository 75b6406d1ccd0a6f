"""A recording summarised: layout, sensor, extent and rates, for `labeller inspect` and reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labeller.config import RecordingSettings
from labeller.recordings.recording import open_recording
from labeller.recordings.scan import scan_recording

__all__ = ["RecordingInfo", "inspect_recording"]


@dataclass(frozen=True)
class RecordingInfo:
    """One recording at a glance: sizes in pixels, times in µs, rates in events/s.

    `sorted` and `first_unsorted` say whether the timestamps are in order; inspecting never
    refuses a recording for that (`validate_recording` does).
    """

    path: Path
    format: str
    width: int
    height: int
    events: int
    t_start_us: int
    t_end_us: int
    duration_s: float
    mean_rate_hz: float
    peak_rate_hz: float
    sorted: bool
    first_unsorted: int | None

    def as_json(self) -> dict[str, Any]:
        """Every field as JSON-ready values (the path as a string)."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def inspect_recording(
    path: Path,
    options: RecordingSettings | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> RecordingInfo:
    """Open `path`, scan every event once (calling `progress(events_so_far)`) and summarise.

    Raises `RecordingError` if the file cannot be opened or read.
    """
    with open_recording(path, options) as recording:
        report = scan_recording(recording, progress=progress)
        return RecordingInfo(
            path=recording.path,
            format=recording.format,
            width=recording.width,
            height=recording.height,
            events=report.events,
            t_start_us=recording.t_start_us,
            t_end_us=recording.t_end_us,
            duration_s=(recording.t_end_us - recording.t_start_us) / 1e6,
            mean_rate_hz=report.mean_rate_hz,
            peak_rate_hz=report.peak_rate_hz,
            sorted=report.sorted,
            first_unsorted=report.first_unsorted,
        )
