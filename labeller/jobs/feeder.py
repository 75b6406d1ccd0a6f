"""Keep each provider queue topped up from the database, sweep lost frames, finish jobs.

Broker memory stays bounded whatever a job's size: at most `queue_depth` frames per provider are
`queued` (a message outstanding) at once, and the feeder publishes more as workers take them.
The database is written first (pending -> queued, one conditional UPDATE), then the messages go
out; a publish that fails gives its frames back. Each round also sweeps: frames whose worker's
lease expired, and frames whose message is presumed lost (queued too long, or the broker lost
its data), go back to `pending` and are published again. The feeder runs inside the workers
(see `workers/feeding.py`), so a job goes on after the command that started it has exited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from labeller.config import FeederSettings, JobSpec, ProviderSettings
from labeller.errors import LabellerError
from labeller.jobs.leader import Leadership
from labeller.jobs.publisher import Publisher
from labeller.pipeline import FrameMessage
from labeller.store import FrameRow, FrameState, JobState, Store

__all__ = ["FeedRound", "Feeder", "publish_frames", "queue_depth", "run_feeder"]

log = logging.getLogger(__name__)

#: Messages per broker round of publishing.
PUBLISH_BATCH = 1000
#: Bounds on a queue depth sized from limits.
MIN_DEPTH, MAX_DEPTH, UNLIMITED_DEPTH = 20, 10_000, 1000


def queue_depth(provider: ProviderSettings, settings: FeederSettings) -> int:
    """Messages to keep outstanding for `provider`: enough to keep its limit busy for ~30 s.

    A deeper queue only costs broker memory (~1 KB a message) and makes a cancel or a resume
    slower to take effect; a shallower one starves workers between two feeder rounds.
    """
    if provider.queue_depth is not None:
        return provider.queue_depth
    if settings.queue_depth is not None:
        return settings.queue_depth
    rpms = [provider.rpm] if provider.rpm else [k.rpm for k in provider.key_list if k.rpm]
    if not rpms and provider.max_in_flight is None:
        return UNLIMITED_DEPTH
    depth = sum(r for r in rpms if r) // 2 if rpms else 0
    if provider.max_in_flight is not None:
        depth = max(depth, 2 * provider.max_in_flight)
    return min(max(depth, MIN_DEPTH), MAX_DEPTH)


def _messages(job_id: str, rows: Sequence[FrameRow]) -> list[FrameMessage]:
    return [
        FrameMessage(job_id, r.index, r.i_start, r.i_end, r.t_start_us, r.t_end_us, r.provider)
        for r in rows
    ]


def publish_frames(
    store: Store,
    publisher: Publisher,
    job_id: str,
    rows: Sequence[FrameRow],
    *,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Publish `rows` (pending frames) now, past any queue depth; returns how many were sent.

    For scripts and tests that run without a feeder; `labeller` itself leaves publishing to it.
    """
    published = 0
    for start in range(0, len(rows), PUBLISH_BATCH):
        batch = rows[start : start + PUBLISH_BATCH]
        store.mark_queued(job_id, [r.index for r in batch], (FrameState.pending.value,))
        publisher.publish(_messages(job_id, batch))
        published += len(batch)
        if on_batch is not None:
            on_batch(published)
    return published


@dataclass
class FeedRound:
    """What one round did."""

    published: int = 0
    #: Frames whose lease expired, given back.
    expired: int = 0
    #: Frames whose message was presumed lost, given back.
    lost: int = 0
    #: Jobs that ended in this round, with their final state.
    finished: dict[str, str] = field(default_factory=dict)


class Feeder:
    """Tops up queues, sweeps and finishes jobs, one `feed_once` round at a time."""

    def __init__(self, store: Store, publisher: Publisher, settings: FeederSettings) -> None:
        self._store = store
        self._publisher = publisher
        self._settings = settings
        self._specs: dict[str, JobSpec] = {}

    def feed_once(self) -> FeedRound:
        round_ = FeedRound()
        jobs = self._store.feedable_jobs()
        if not jobs:
            return round_
        specs = [(job_id, self._spec(job_id, spec)) for job_id, spec in jobs]
        self._sweep([job_id for job_id, _ in specs], round_)
        outstanding = self._store.queued_counts([job_id for job_id, _ in specs])
        for job_id, spec in specs:
            sent = sum(
                self._top_up(job_id, provider, spec, outstanding) for provider in spec.providers
            )
            round_.published += sent
            if sent == 0 and not self._store.has_open_frames(job_id):
                state = self._store.finish_job_if_complete(job_id)
                if state in (JobState.done.value, JobState.failed.value):
                    round_.finished[job_id] = state
                    self._specs.pop(job_id, None)
        return round_

    def _spec(self, job_id: str, spec_json: str) -> JobSpec:
        if job_id not in self._specs:
            self._specs[job_id] = JobSpec.model_validate_json(spec_json)
        return self._specs[job_id]

    def _sweep(self, job_ids: Sequence[str], round_: FeedRound) -> None:
        broker_lost = self._publisher.messages_lost()
        older_than = None if broker_lost else self._store.clock() - self._settings.lost_after_s
        for job_id in job_ids:
            round_.expired += self._store.release_expired(job_id)
            round_.lost += self._store.release_queued(job_id, older_than)
        if round_.expired or round_.lost:
            log.warning(
                "feeder: %d frame(s) whose worker's lease expired and %d whose message was %s "
                "go out again",
                round_.expired,
                round_.lost,
                "lost with the broker's data" if broker_lost else "presumed lost",
            )

    def _top_up(
        self, job_id: str, provider: ProviderSettings, spec: JobSpec, outstanding: dict[str, int]
    ) -> int:
        room = queue_depth(provider, self._settings) - outstanding.get(provider.name, 0)
        sent = 0
        while room > 0:
            rows = self._store.take_pending(job_id, provider.name, min(room, PUBLISH_BATCH))
            if not rows:
                break
            try:
                self._publisher.publish(_messages(job_id, rows))
            except BaseException:
                self._store.untake(job_id, [r.index for r in rows])
                raise
            sent += len(rows)
            room -= len(rows)
            outstanding[provider.name] = outstanding.get(provider.name, 0) + len(rows)
        return sent


def run_feeder(
    feeder: Feeder,
    leadership: Leadership | None,
    stop: threading.Event,
    interval_s: float,
) -> None:
    """Feed every `interval_s` until `stop` is set; outages are logged and waited out."""
    complained = False
    try:
        while not stop.is_set():
            try:
                if leadership is None or leadership.hold():
                    feeder.feed_once()
                complained = False
            except Exception as exc:  # noqa: BLE001  (the thread must outlive any one round)
                # A broker restart, a channel error, a job written by another version: log it
                # once per outage, not once a second, and try again next round.
                if not complained:
                    detail = exc if isinstance(exc, LabellerError) else repr(exc)
                    log.warning("feeder: %s; retrying every %.0f s", detail, interval_s)
                complained = True
            stop.wait(interval_s)
    finally:
        if leadership is not None:
            try:
                leadership.release()
            except LabellerError:
                pass  # the lease lapses by itself
