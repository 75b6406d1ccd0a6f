"""Every write of a frame's life, each one conditional so duplicates and races are harmless.

A frame moves pending -> queued (published by the feeder) -> running (leased) -> done | failed,
and back to pending when it falls back to another provider, waits for a rate-limit slot, or its
job paused (the feeder publishes it again when it is due). Each transition is one UPDATE whose
WHERE clause checks the state it expects, so a second delivery of the same message, or a worker
whose lease expired, changes nothing.

Job-level writes (finish, reopen, pause, resume, cancel) live in `_job_state.py`, the feeder's
and sweeper's in `_feeding.py`, and the caption cache's in `cache.py`; `Store` combines them
over one engine and clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, insert, or_, select, update

from labeller.store._errors import translated
from labeller.store._feeding import FeedWrites
from labeller.store._job_state import JobStateWrites
from labeller.store._records import HELD, THIS_FRAME, ClaimedFrame, FrameOutcome, changed, held
from labeller.store.cache import CacheWrites
from labeller.store.engine import make_session_factory
from labeller.store.models import Attempt, Base, Frame, FrameState, Job, JobState

__all__ = ["ClaimedFrame", "FrameOutcome", "Store"]

# The per-frame writes below run on plain connections, not ORM sessions: a session costs about
# 0.8 ms a statement on top of the statement itself, several times over for every frame.
FRAMES = Base.metadata.tables["frames"]
ATTEMPTS = Base.metadata.tables["attempts"]
#: Rows per INSERT statement when a job's frames are written.
INSERT_BATCH = 5000

# The statements every frame runs are built once, with bound parameters: building an UPDATE with
# `.values(...)` and deriving its cache key cost more than running it (about 0.5 ms a statement).
_C = FRAMES.c
#: A frame this worker may lease: queued, or pending and due (a duplicate message must not take
#: a frame waiting out a rate limit early), or leased by someone whose lease ran out.
_CLAIMABLE = or_(
    _C.state == FrameState.queued.value,
    and_(
        _C.state == FrameState.pending.value,
        or_(_C.not_before.is_(None), _C.not_before <= bindparam("b_now")),
    ),
    and_(_C.state == FrameState.running.value, _C.lease_until < bindparam("b_now")),
)
_CLAIM = (
    update(FRAMES)
    .where(*THIS_FRAME, _CLAIMABLE, _C.attempts < bindparam("b_max_attempts"))
    .values(
        state=FrameState.running.value,
        provider=bindparam("b_provider"),
        lease_owner=bindparam("b_worker"),
        lease_until=bindparam("b_lease_until"),
        attempts=_C.attempts + 1,
        updated_at=bindparam("b_now"),
    )
    .returning(_C.i_start, _C.i_end, _C.t_start_us, _C.t_end_us, _C.attempts, _C.full_index)
)
#: A frame that keeps killing its worker ends here instead of looping forever.
_GIVE_UP = (
    update(FRAMES)
    .where(*THIS_FRAME, _CLAIMABLE)
    .values(
        state=FrameState.failed.value,
        error=bindparam("b_reason"),
        lease_owner=None,
        updated_at=bindparam("b_now"),
        finished_at=bindparam("b_now"),
    )
)
_RENEW = (
    update(FRAMES)
    .where(*HELD)
    .values(lease_until=bindparam("b_lease_until"), updated_at=bindparam("b_now"))
)
_COMPLETE = (
    update(FRAMES)
    .where(*HELD)
    .values(
        state=FrameState.done.value,
        provider=bindparam("b_provider"),
        model=bindparam("b_model"),
        caption=bindparam("b_caption"),
        prompt_tokens=bindparam("b_prompt_tokens"),
        completion_tokens=bindparam("b_completion_tokens"),
        cost_usd=bindparam("b_cost_usd"),
        error=None,
        cached_from_job=None,
        cached_from_frame=None,
        lease_owner=None,
        lease_until=None,
        updated_at=bindparam("b_now"),
        finished_at=bindparam("b_now"),
    )
)
_INSERT_ATTEMPT = insert(ATTEMPTS)


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _columns(attempt: Attempt) -> dict[str, Any]:
    """An Attempt's column values for a Core INSERT (its id is the database's to give)."""
    return {c.key: getattr(attempt, c.key) for c in ATTEMPTS.columns if c.key != "id"}


class Store(JobStateWrites, FeedWrites, CacheWrites):
    """Job, frame and attempt writes over one engine, with an injected clock (epoch s)."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.clock = clock

    def create_job(
        self,
        job: Job,
        frames: Iterable[dict[str, Any]],
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Insert the job and its frames; returns how many frames (0 leaves no job behind).

        The job is written first as `planning` and its frames in committed batches of
        INSERT_BATCH (multi-row INSERTs), so the feeder can publish the first frames while the
        rest are planned. `on_batch(count)` runs after each commit. Any error (or Ctrl-C) while
        planning removes the job again, unless a worker already called a provider for one of
        its frames: then it is cancelled, so what was paid for stays on record.
        """
        job_id = job.id
        job.state = JobState.planning.value
        job.frame_count = 0
        now = self.clock()
        with translated("creating the job"), self.sessions.begin() as session:
            session.add(job)
        count = 0
        try:
            for batch in _batches(frames, INSERT_BATCH):
                with translated("writing frames"), self.sessions.begin() as session:
                    # Core, not ORM, insert: one executemany (multi-row VALUES on PostgreSQL).
                    session.execute(
                        insert(FRAMES),
                        [{**f, "job_id": job_id, "updated_at": now} for f in batch],
                    )
                    count += len(batch)
                    session.execute(update(Job).where(Job.id == job_id).values(frame_count=count))
                if on_batch is not None:
                    on_batch(count)
        except BaseException:
            self.discard_job(job_id)
            raise
        if count == 0:
            self.discard_job(job_id)
            return 0
        with translated("starting the job"), self.sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.planning.value)
                .values(state=JobState.running.value)
            )
        return count

    def discard_job(self, job_id: str) -> None:
        """Undo a job whose planning failed: delete it, or cancel it if a worker took a frame
        (a call may have been made and paid for)."""
        taken = (FrameState.running.value, FrameState.done.value, FrameState.failed.value)
        with translated("discarding a job"), self.sessions.begin() as session:
            called = session.scalar(select(Attempt.id).where(Attempt.job_id == job_id).limit(1))
            # A frame a worker took may be mid-call, its attempt not yet written.
            taken_frame = session.scalar(
                select(Frame.id).where(Frame.job_id == job_id, Frame.state.in_(taken)).limit(1)
            )
        if called is not None or taken_frame is not None:
            self.cancel_job(job_id)
            return
        with translated("discarding a job"), self.sessions.begin() as session:
            session.execute(delete(Frame).where(Frame.job_id == job_id))
            session.execute(delete(Job).where(Job.id == job_id))

    def mark_queued(self, job_id: str, indices: Sequence[int], from_states: Sequence[str]) -> None:
        """Move frames to `queued` just before their messages are published."""
        with translated("queueing frames"), self.engine.begin() as session:
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
        frame = {"b_job_id": job_id, "b_index": index, "b_now": now}
        with translated("claiming a frame"), self.engine.begin() as connection:
            row = connection.execute(
                _CLAIM,
                {
                    **frame,
                    "b_max_attempts": max_attempts,
                    "b_provider": provider,
                    "b_worker": worker,
                    "b_lease_until": now + lease_s,
                },
            ).one_or_none()
            if row is None:
                connection.execute(
                    _GIVE_UP, {**frame, "b_reason": f"gave up after {max_attempts} attempts"}
                )
                return None
        i_start, i_end, t_start_us, t_end_us, attempts, full_index = row
        return ClaimedFrame(
            job_id,
            index,
            int(i_start),
            int(i_end),
            int(t_start_us),
            int(t_end_us),
            int(attempts),
            None if full_index is None else int(full_index),
        )

    def renew_lease(self, frame: ClaimedFrame, worker: str, lease_s: float) -> bool:
        """Extend `worker`'s lease from now, just before a call; False if it was lost."""
        now = self.clock()
        with translated("renewing a lease"), self.engine.begin() as connection:
            return changed(
                connection,
                _RENEW,
                {**held(frame, worker), "b_now": now, "b_lease_until": now + lease_s},
            )

    def record_attempt(self, attempt: Attempt) -> None:
        with translated("recording an attempt"), self.engine.begin() as connection:
            connection.execute(_INSERT_ATTEMPT, _columns(attempt))

    def complete(
        self,
        frame: ClaimedFrame,
        worker: str,
        outcome: FrameOutcome,
        attempt: Attempt | None = None,
    ) -> bool:
        """Write the caption if `worker` still holds the lease; False if someone else won.

        `attempt`, the call's record, is written in the same transaction whatever the lease
        says (the call was made and paid for): one commit per captioned frame, not two.
        """
        with translated("saving a caption"), self.engine.begin() as connection:
            if attempt is not None:
                connection.execute(_INSERT_ATTEMPT, _columns(attempt))
            return changed(
                connection,
                _COMPLETE,
                {
                    **held(frame, worker),
                    "b_now": self.clock(),
                    "b_provider": outcome.provider,
                    "b_model": outcome.model,
                    "b_caption": outcome.caption,
                    "b_prompt_tokens": outcome.prompt_tokens,
                    "b_completion_tokens": outcome.completion_tokens,
                    "b_cost_usd": outcome.cost_usd,
                },
            )

    def fail(self, frame: ClaimedFrame, worker: str, error: str) -> bool:
        now = self.clock()
        with translated("failing a frame"), self.engine.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*HELD)
                .values(
                    state=FrameState.failed.value,
                    error=error,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                ),
                held(frame, worker),
            )

    def reroute(
        self,
        frame: ClaimedFrame,
        worker: str,
        provider: str,
        *,
        delay_s: float = 0.0,
        refund_attempt: bool = False,
    ) -> bool:
        """Give the frame back to the feeder, routed to `provider`; False if the lease was lost.

        The frame waits in the database (`pending`, not before `delay_s` from now), not on the
        broker: no long countdown sits in a worker's memory or past RabbitMQ's ack timeout.
        `refund_attempt` undoes the claim's count when no call was made (a rate-limit wait).
        """
        now = self.clock()
        values: dict[str, Any] = {
            "state": FrameState.pending.value,
            "provider": provider,
            "lease_owner": None,
            "lease_until": None,
            "not_before": now + delay_s if delay_s > 0 else None,
            "updated_at": now,
        }
        if refund_attempt:
            values["attempts"] = Frame.attempts - 1
        with translated("re-routing a frame"), self.engine.begin() as session:
            return changed(session, update(Frame).where(*HELD).values(values), held(frame, worker))

    def park(self, frame: ClaimedFrame, worker: str) -> bool:
        """Give a leased frame back unsent, its claim's attempt refunded; False if lease lost.

        For a job that paused (its budget reached): the frame goes back to `pending`, as no
        message for it is left on the broker, so resuming the job publishes it again.
        """
        with translated("parking a frame"), self.engine.begin() as session:
            return changed(
                session,
                update(Frame)
                .where(*HELD)
                .values(
                    state=FrameState.pending.value,
                    attempts=Frame.attempts - 1,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=self.clock(),
                ),
                held(frame, worker),
            )
