"""Every write of a frame's life, each one conditional so duplicates and races are harmless.

A frame moves pending -> queued -> running (leased) -> done | failed, and back to queued when it
falls back to another provider or waits for a rate-limit slot. Each transition is one UPDATE
whose WHERE clause checks the state it expects, so a second delivery of the same message, or a
worker whose lease expired, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, Engine, Executable, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from labeller.store._errors import translated
from labeller.store.engine import make_session_factory
from labeller.store.models import (
    TERMINAL_FRAME_STATES,
    Attempt,
    Frame,
    FrameState,
    Job,
    JobState,
)

__all__ = ["ClaimedFrame", "FrameOutcome", "Store"]

#: Rows per INSERT statement when a job's frames are written.
INSERT_BATCH = 5000


@dataclass(frozen=True)
class ClaimedFrame:
    """What a worker needs of a frame it now holds the lease on."""

    job_id: str
    index: int
    i_start: int
    i_end: int
    t_start_us: int
    t_end_us: int
    attempts: int


@dataclass(frozen=True)
class FrameOutcome:
    """The fields a successful call writes onto its frame."""

    provider: str
    model: str
    caption: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class _NothingToInsert(Exception):
    """Rolls back a job that planned no frames."""


class Store:
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
            return self._changed(
                session,
                update(Frame)
                .where(*self._held(frame, worker))
                .values(
                    state=FrameState.done.value,
                    provider=outcome.provider,
                    model=outcome.model,
                    caption=outcome.caption,
                    prompt_tokens=outcome.prompt_tokens,
                    completion_tokens=outcome.completion_tokens,
                    cost_usd=outcome.cost_usd,
                    error=None,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                ),
            )

    def fail(self, frame: ClaimedFrame, worker: str, error: str) -> bool:
        now = self.clock()
        with translated("failing a frame"), self.sessions.begin() as session:
            return self._changed(
                session,
                update(Frame)
                .where(*self._held(frame, worker))
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
            return self._changed(
                session, update(Frame).where(*self._held(frame, worker)).values(values)
            )

    def finish_job_if_complete(self, job_id: str) -> str:
        """Set the job done/failed once no frame is left in flight; returns its state."""
        with translated("reading job state"), self.sessions.begin() as session:
            open_frames = session.scalar(
                select(func.count())
                .select_from(Frame)
                .where(Frame.job_id == job_id, Frame.state.not_in(TERMINAL_FRAME_STATES))
            )
            if open_frames:
                return JobState.running.value
            failed = session.scalar(
                select(func.count())
                .select_from(Frame)
                .where(Frame.job_id == job_id, Frame.state == FrameState.failed.value)
            )
            state = JobState.failed.value if failed else JobState.done.value
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state != state)
                .values(state=state, finished_at=self.clock())
            )
            return state

    def reopen(self, job_id: str, indices: Sequence[int], *, reset_attempts: bool) -> None:
        """Move frames back to pending (and the job back to running) before a requeue."""
        values: dict[str, Any] = {
            "state": FrameState.pending.value,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": self.clock(),
        }
        if reset_attempts:
            values.update(attempts=0, error=None, finished_at=None)
        with translated("reopening frames"), self.sessions.begin() as session:
            session.execute(
                update(Frame).where(Frame.job_id == job_id, Frame.index.in_(indices)).values(values)
            )
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(state=JobState.running.value, finished_at=None)
            )

    @staticmethod
    def _changed(session: Session, statement: Executable) -> bool:
        """Run a conditional UPDATE; True if it matched a row."""
        result = session.execute(statement)
        return isinstance(result, CursorResult) and result.rowcount > 0

    @staticmethod
    def _held(frame: ClaimedFrame, worker: str) -> tuple[Any, ...]:
        return (
            Frame.job_id == frame.job_id,
            Frame.index == frame.index,
            Frame.state == FrameState.running.value,
            Frame.lease_owner == worker,
        )
