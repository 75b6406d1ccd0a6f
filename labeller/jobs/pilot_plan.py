"""Plan a pilot: a sample of frames spread over the recording, each pinned to every provider.

A pilot is a job like any other, so the workers need nothing new: the sample's window k is
written once per provider p, as frame `k * P + p` pinned to that provider, its `full_index`
the frame number the full job gives that window (so every provider's prompt names the same
frame). Its spec clears every fallback (a provider retries its own frame, so each answers for
itself; 429s still wait and retry) and turns the caption cache off (two providers' frames of
one window are identical images, and every figure must come from a real call).

Planning reads the windows twice: once to count them (the sample is spread over all the frames
a full job would send), once to pick the sample. Memory stays one row per sampled frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from labeller.config import CacheSettings, ProviderSettings, Settings
from labeller.errors import RecordingError
from labeller.frames import Window, plan_windows
from labeller.jobs.plan import frame_row, new_job
from labeller.jobs.sampling import spread
from labeller.recordings import Recording
from labeller.store import JobKind, Store

__all__ = ["PilotPlan", "create_pilot", "pilot_settings"]


@dataclass(frozen=True)
class PilotPlan:
    job_id: str
    #: Windows sampled, each captioned by every provider.
    sample: int
    #: Frames a full job would have, and of them those below `min_events` (never sent).
    full_frames: int
    full_skipped: int
    providers: list[str]

    @property
    def full_sent(self) -> int:
        return self.full_frames - self.full_skipped


def pilot_settings(settings: Settings) -> Settings:
    """The settings a pilot runs with: no fallbacks and no caption cache (see the module doc).
    Weights and limits stay: the full job is extrapolated from them."""
    providers: list[ProviderSettings] = [
        p.model_copy(update={"fallback": []}) for p in settings.providers
    ]
    cache = CacheSettings(exact=False, near_duplicate_bits=None)
    return settings.model_copy(update={"providers": providers, "cache": cache})


def _pilot_rows(
    windows: Iterator[Window], chosen: list[int], providers: list[str], min_events: int
) -> Iterator[dict[str, Any]]:
    wanted = iter(chosen)
    next_position = next(wanted, None)
    position = 0  # among the windows a full job would send
    sampled = 0
    for window in windows:
        if next_position is None:
            return
        if window.event_count < min_events:
            continue
        if position == next_position:
            for p, provider in enumerate(providers):
                index = sampled * len(providers) + p
                yield frame_row(window, index=index, provider=provider, full_index=window.index)
            sampled += 1
            next_position = next(wanted, None)
        position += 1


def create_pilot(
    store: Store,
    settings: Settings,
    recording: Recording,
    *,
    sample: int,
    simulated: bool,
    progress: Callable[[Window], None] | None = None,
) -> PilotPlan:
    """Write a pilot job: `sample` windows (all of them if fewer) spread evenly over the frames a
    full job would send, one frame per window and provider. `progress` sees the counting pass.

    Raises RecordingError when the binning settings leave no frame to send.
    """
    min_events = settings.binning.min_events
    frames = skipped = 0
    for window in plan_windows(recording, settings.binning):
        if progress is not None:
            progress(window)
        frames += 1
        skipped += window.event_count < min_events
    chosen = spread(frames - skipped, sample)
    if not chosen:
        raise RecordingError(
            f"{recording.path}: no frames to sample with these binning settings "
            "(window, events, start, end, keep_partial, min_events)"
        )
    job, _spec = new_job(store, pilot_settings(settings), recording, simulated=simulated)
    job.kind = JobKind.pilot.value
    job.full_frames = frames
    job.full_skipped = skipped
    names = [p.name for p in settings.providers]
    rows = _pilot_rows(plan_windows(recording, settings.binning), chosen, names, min_events)
    store.create_job(job, rows)
    return PilotPlan(job.id, len(chosen), frames, skipped, names)
