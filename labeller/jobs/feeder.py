"""Publish frames: mark them queued in the database first, then put their messages on the broker.

The database is written first so a message is never in flight for a frame the database thinks
is pending; a crash between the two leaves frames `queued` with no message, which
`labeller requeue --stale` finds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from labeller.jobs.publisher import Publisher
from labeller.pipeline import FrameMessage
from labeller.store import FrameRow, FrameState, Store

__all__ = ["publish_frames"]

#: Messages per broker round of publishing.
PUBLISH_BATCH = 500


def publish_frames(
    store: Store,
    publisher: Publisher,
    job_id: str,
    rows: Sequence[FrameRow],
    *,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Queue `rows` (pending frames) in batches; returns how many were published."""
    published = 0
    for start in range(0, len(rows), PUBLISH_BATCH):
        batch = rows[start : start + PUBLISH_BATCH]
        store.mark_queued(job_id, [r.index for r in batch], (FrameState.pending.value,))
        publisher.publish(
            [
                FrameMessage(
                    job_id, r.index, r.i_start, r.i_end, r.t_start_us, r.t_end_us, r.provider
                )
                for r in batch
            ]
        )
        published += len(batch)
        if on_batch is not None:
            on_batch(published)
    return published
