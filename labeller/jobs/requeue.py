"""Give failed frames another round, or send again frames whose message was lost.

Both only move frames back to `pending`; the workers' feeder publishes them within its queue
depth. `requeue_pending` publishes at once, for scripts and tests that run without a feeder.
"""

from __future__ import annotations

from labeller.jobs.feeder import publish_frames
from labeller.jobs.publisher import Publisher
from labeller.store import FrameState, Store, frames_in_states, stale_frames

__all__ = ["requeue_failed", "requeue_pending", "requeue_stale"]


def requeue_failed(store: Store, job_id: str) -> int:
    """Failed frames start again with a fresh attempt budget; returns how many."""
    rows = frames_in_states(store.engine, job_id, (FrameState.failed.value,))
    if rows:
        store.reopen(job_id, [r.index for r in rows], reset_attempts=True)
    return len(rows)


def requeue_stale(store: Store, job_id: str, older_than_s: float) -> int:
    """Frames queued or running with no change for `older_than_s` seconds; returns how many.

    A frame whose message is in fact alive gets a second one, which the claim acknowledges
    without a call; a running frame's worker loses its lease, so its caption is not saved.
    """
    rows = stale_frames(store.engine, job_id, store.clock() - older_than_s)
    if rows:
        store.reopen(job_id, [r.index for r in rows], reset_attempts=False)
    return len(rows)


def requeue_pending(store: Store, publisher: Publisher, job_id: str) -> int:
    """Publish every pending frame now, past the queue depth; returns how many."""
    rows = frames_in_states(store.engine, job_id, (FrameState.pending.value,))
    return publish_frames(store, publisher, job_id, rows)
