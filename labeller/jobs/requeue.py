"""Give failed frames another round, or re-send frames whose message was lost."""

from __future__ import annotations

from labeller.jobs.feeder import publish_frames
from labeller.jobs.publisher import Publisher
from labeller.store import FrameState, Store, frames_in_states, stale_frames

__all__ = ["requeue_failed", "requeue_pending", "requeue_stale"]


def requeue_failed(store: Store, publisher: Publisher, job_id: str) -> int:
    """Failed frames start again with a fresh attempt budget."""
    rows = frames_in_states(store.engine, job_id, (FrameState.failed.value,))
    if rows:
        store.reopen(job_id, [r.index for r in rows], reset_attempts=True)
    return publish_frames(store, publisher, job_id, rows)


def requeue_stale(store: Store, publisher: Publisher, job_id: str, older_than_s: float) -> int:
    """Frames pending, queued or running with no change for `older_than_s` seconds."""
    rows = stale_frames(store.engine, job_id, store.clock() - older_than_s)
    if rows:
        store.reopen(job_id, [r.index for r in rows], reset_attempts=False)
    return publish_frames(store, publisher, job_id, rows)


def requeue_pending(store: Store, publisher: Publisher, job_id: str) -> int:
    """Publish frames that were planned but never sent."""
    rows = frames_in_states(store.engine, job_id, (FrameState.pending.value,))
    return publish_frames(store, publisher, job_id, rows)
