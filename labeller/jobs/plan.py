"""Plan a job: validate the recording, slice it into windows, write Job and Frame rows at once.

Windows stream from the recording straight into batched INSERTs: planning holds one batch of
rows, never the recording's timestamps, so memory grows only with the frames in a batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labeller.config import JobSpec, Settings
from labeller.errors import RecordingError
from labeller.frames import Window, plan_windows
from labeller.pipeline import prompt_digest
from labeller.recordings import Recording
from labeller.routing import Router
from labeller.store import FrameState, Job, JobState, Store

__all__ = ["create_job", "frame_row", "new_job"]


def _frame_rows(
    job_id: str,
    windows: Iterator[Window],
    router: Router,
    min_events: int,
    progress: Callable[[Window], None] | None,
) -> Iterator[dict[str, Any]]:
    for window in windows:
        if progress is not None:
            progress(window)
        skipped = window.event_count < min_events
        yield frame_row(
            window,
            index=window.index,
            provider=router.first(job_id, window.index),
            skipped_because=f"fewer than {min_events} events" if skipped else None,
        )


def frame_row(
    window: Window,
    *,
    index: int,
    provider: str,
    full_index: int | None = None,
    skipped_because: str | None = None,
) -> dict[str, Any]:
    """A new frame as `Store.create_job` writes it: the window's span routed to `provider`,
    nothing spent yet; pending, or skipped with `skipped_because` as its error. Full jobs and
    pilots plan their frames through it; a pilot's `full_index` is the full job's number."""
    return {
        "index": index,
        "full_index": full_index,
        "t_start_us": window.t_start_us,
        "t_end_us": window.t_end_us,
        "i_start": window.i_start,
        "i_end": window.i_end,
        "state": FrameState.pending.value if skipped_because is None else FrameState.skipped.value,
        "provider": provider,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "attempts": 0,
        "error": skipped_because,
    }


def create_job(
    store: Store,
    settings: Settings,
    recording: Recording,
    *,
    simulated: bool,
    progress: Callable[[Window], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> str:
    """Write the job and one frame per window (pending, or skipped below `min_events`).

    Frames are committed in batches (`on_batch(count)` after each), so the feeder publishes the
    first ones while the rest are planned; a recording that fails midway leaves no job.
    Returns the job id.
    Raises RecordingError when the recording yields no window.
    """
    job, spec = new_job(store, settings, recording, simulated=simulated)
    rows = _frame_rows(
        job.id,
        plan_windows(recording, settings.binning),
        Router(spec.providers),
        settings.binning.min_events,
        progress,
    )
    if store.create_job(job, rows, on_batch=on_batch) == 0:
        raise RecordingError(
            f"{job.recording}: no frames to label with these binning settings "
            "(window, events, start, end, keep_partial)"
        )
    return job.id


def new_job(
    store: Store, settings: Settings, recording: Recording, *, simulated: bool
) -> tuple[Job, JobSpec]:
    """The Job row (not yet written) and its spec; shared by full jobs and pilots."""
    path = Path(recording.path).resolve()
    spec = JobSpec.from_settings(settings, recording=str(path), simulated=simulated)
    job = Job(
        id=uuid.uuid4().hex[:12],
        recording=str(path),
        spec=spec.model_dump_json(),
        state=JobState.running.value,
        frame_count=0,
        simulated=simulated,
        created_at=store.clock(),
        prompt_hash=prompt_digest(spec.prompt),
    )
    return job, spec
