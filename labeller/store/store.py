"""Every write of a frame's life, each one conditional so duplicates and races are harmless.

A frame moves pending -> queued -> running (leased) -> done | failed, and back to queued when it
falls back to another provider or waits for a rate-limit slot (to pending, parked, when its job
paused). Each transition is one UPDATE whose WHERE clause checks the state it expects, so a
second delivery of the same message, or a worker whose lease expired, changes nothing.

Job-level writes (finish, reopen, pause, resume) live in `_job_state.py` and the caption
cache's writes in `cache.py`; `Store` combines them over one engine and clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, update

from labeller.store._errors import translated
from labeller.store._job_state import JobStateWrites
from labeller.store._records import ClaimedFrame, FrameOutcome, changed, held
from labeller.store.cache import CacheWrites
from labeller.store.engine import make_session_factory
from labeller.store.models import Attempt, Frame, FrameState, Job

__all__ = ["ClaimedFrame", "FrameOutcome", "Store"]

#: Rows per INSERT statement when a job's frames are written.
INSERT_BATCH = 5000


class _NothingToInsert(Exception):
    """Rolls back a job that planned no frames."""


class Store(JobStateWrites, CacheWrites):
    """Job, frame and attempt writes over one engine, with an injected clock (epoch s)."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.clock = clock

    def create_job(self, job: Job, frames: Iterable[dict[str, Any]]) -> int:
        """Insert the job and its frames in one transaction: all of it or nothing.

        `frames` may be a generator: rows go in batches of INSERT_BATCH, and the job's
        `frame_count` is set from what was inserted. Returns that count (0 inserts nothing).
        """
        now = self.clock()
        count = 0
        try:
            with translated("creating the job"), self.sessions.begin() as session:
                session.add(job)
                session.flush()
                batch: list[dict[str, Any]] = []
                for frame in frames:
                    batch.append({**frame, "job_id": job.id, "updated_at": now})
                    if len(batch) >= INSERT_BATCH:
                        session.execute(insert(Frame), batch)
                        count += len(batch)
                        batch = []
                if batch:
                    session.execute(insert(Frame), batch)
                    count += len(batch)
                if count == 0:
                    raise _NothingToInsert
                job.frame_count = count
        except _NothingToInsert:
            return 0
        return count

    def mark_queued(self, job_id: str, indices: Sequence[int], from_states: Sequence[str]) -> None:
        """Move frames to `queued` just before their messages are published."""
        with translated("queueing frames"), self.sessions.begin() as session:
            session.execute(
                update(Frame)
                .where(
                    Frame.job_id == job_id,
                    Frame.index.in_(indices),
                    Frame.state.in_(from_states),
                )
                .values(state=FrameState.queued.value, updated_at=self.clock(), lease_owner=None)
            )

    def claim(
        self, job_id: str, index: int, provider: str, worker: str, lease_s: float, max_attempts: int
    ) -> ClaimedFrame | None:
        """Lease the frame to `worker`; None if it is done, failed or validly leased elsewhere."""
        now = self.clock()
        claimable = or_(
            Frame.state.in_((FrameState.queued.value, FrameState.pending.value)),
            and_(Frame.state == FrameState.running.value, Frame.lease_until < now),
        )
        with translated("claiming a frame"), self.sessions.begin() as session:
            row = session.execute(
                update(Frame)
                .where(
                    Frame.job_id == job_id,
                    Frame.index == index,
                    claimable,
                    Frame.attempts < max_attempts,
                )
                .values(
                    state=FrameState.running.value,
                    provider=provider,
                    lease_owner=worker,
                    lease_until=now + lease_s,
                    attempts=Frame.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    Frame.i_start, Frame.i_end, Frame.t_start_us, Frame.t_end_us, Frame.attempts
                )
            ).one_or_none()
            if row is None:
                # A frame that keeps killing its worker ends here instead of looping forever.
                session.execute(
                    update(Frame)
                    .where(Frame.job_id == job_id, Frame.index == index, claimable)
                    .values(
                        state=FrameState.failed.value,
                        error=f"gave up after {max_attempts} attempts",
                        lease_owner=None,
                        updated_at=now,
                        finished_at=now,
                    )
                )
                return None
        return ClaimedFrame(job_id, index, *(int(value) for value in row))

    def record_attempt(self, attempt: Attempt) -> None:
        with translated("recording an attempt"), self.sessions.begin() as session:
            session.add(attempt)

    def complete(self, frame: ClaimedFrame, worker: str, outcome: FrameOutcome) -> bool:
        """Write the caption if `worker` still holds the lease; False if someone else won."""
        now = self.clock()
        with translated("saving a caption"), self.sessions.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*held(frame, worker))
                .values(
                    state=FrameState.done.value,
                    provider=outcome.provider,
                    model=outcome.model,
                    caption=outcome.caption,
                    prompt_tokens=outcome.prompt_tokens,
                    completion_tokens=outcome.completion_tokens,
                    cost_usd=outcome.cost_usd,
                    error=None,
                    cached_from_job=None,
                    cached_from_frame=None,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                ),
            )

    def fail(self, frame: ClaimedFrame, worker: str, error: str) -> bool:
        now = self.clock()
        with translated("failing a frame"), self.sessions.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*held(frame, worker))
                .values(
                    state=FrameState.failed.value,
                    error=error,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                ),
            )

    def reroute(
        self, frame: ClaimedFrame, worker: str, provider: str, *, refund_attempt: bool = False
    ) -> bool:
        """Hand the frame back to the queue, routed to `provider`; False if the lease was lost.

        `refund_attempt` undoes the claim's count when no call was made (a rate-limit wait).
        """
        values: dict[str, Any] = {
            "state": FrameState.queued.value,
            "provider": provider,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": self.clock(),
        }
        if refund_attempt:
            values["attempts"] = Frame.attempts - 1
        with translated("re-routing a frame"), self.sessions.begin() as session:
            return changed(session, update(Frame).where(*held(frame, worker)).values(values))

    def park(self, frame: ClaimedFrame, worker: str) -> bool:
        """Give a leased frame back unsent, its claim's attempt refunded; False if lease lost.

        For a job that paused (its budget reached): the frame goes back to `pending`, as no
        message for it is left on the broker, so resuming the job publishes it again.
        """
        with translated("parking a frame"), self.sessions.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*held(frame, worker))
                .values(
                    state=FrameState.pending.value,
                    attempts=Frame.attempts - 1,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=self.clock(),
                ),
            )
