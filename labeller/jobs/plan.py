"""Plan a job: validate the recording, slice it into windows, write Job and Frame rows at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labeller.config import JobSpec, Settings
from labeller.errors import RecordingError
from labeller.frames import Window, plan_time_windows
from labeller.recordings import open_recording
from labeller.routing import Router
from labeller.store import FrameState, Job, JobState, Store

__all__ = ["create_job"]


def _frame_rows(job_id: str, windows: list[Window], router: Router) -> Iterator[dict[str, Any]]:
    for window in windows:
        yield {
            "index": window.index,
            "t_start_us": window.t_start_us,
            "t_end_us": window.t_end_us,
            "i_start": window.i_start,
            "i_end": window.i_end,
            "state": FrameState.pending.value,
            "provider": router.first(job_id, window.index),
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "attempts": 0,
        }


def create_job(
    store: Store,
    settings: Settings,
    recording: Path,
    *,
    window_us: int,
    simulated: bool,
    simulator: dict[str, Any] | None = None,
) -> str:
    """Write the job and one pending frame per window; returns the job id.

    The recording is read and planned before anything is written, so a bad file leaves no job.
    Raises RecordingError for an unusable recording.
    """
    path = recording.resolve()
    with open_recording(path) as opened:
        windows = list(plan_time_windows(opened, window_us))
    if not windows:
        raise RecordingError(f"{path}: no time windows to label")
    spec = JobSpec.from_settings(
        settings, recording=str(path), window_us=window_us, simulated=simulated
    ).model_copy(update={"simulator": simulator})
    job_id = uuid.uuid4().hex[:12]
    job = Job(
        id=job_id,
        recording=str(path),
        spec=spec.model_dump_json(),
        state=JobState.running.value,
        frame_count=len(windows),
        simulated=simulated,
        created_at=store.clock(),
    )
    store.create_job(job, _frame_rows(job_id, windows, Router(spec.providers)))
    return job_id
