"""The feeder's and the sweeper's writes: take pending frames to publish, give lost ones back.

Taking is one conditional UPDATE ... RETURNING: two feeders that race for the same frames each
get a disjoint share, so no frame is published twice by design (a duplicate message would still
be harmless: the claim acknowledges it without a call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from labeller.store._errors import translated
from labeller.store.models import FEEDABLE_JOB_STATES, OPEN_FRAME_STATES, Frame, FrameState, Job
from labeller.store.queries import FrameRow

__all__ = ["FeedWrites"]

_PENDING = FrameState.pending.value
_QUEUED = FrameState.queued.value
_RUNNING = FrameState.running.value


class FeedWrites:
    """Feeder and sweeper writes of `Store`; each is one short transaction."""

    sessions: sessionmaker[Session]
    clock: Callable[[], float]

    def feedable_jobs(self) -> list[tuple[str, str]]:
        """(id, spec JSON) of every job whose frames are published, oldest first."""
        with translated("listing jobs to feed"), self.sessions() as session:
            rows = session.execute(
                select(Job.id, Job.spec)
                .where(Job.state.in_(FEEDABLE_JOB_STATES))
                .order_by(Job.created_at)
            )
            return [(str(job_id), str(spec)) for job_id, spec in rows]

    def queued_counts(self, job_ids: Sequence[str]) -> dict[str, int]:
        """Frames marked queued (a message outstanding), per provider, over `job_ids`."""
        if not job_ids:
            return {}
        with translated("counting queued frames"), self.sessions() as session:
            rows = session.execute(
                select(Frame.provider, func.count())
                .where(Frame.job_id.in_(job_ids), Frame.state == _QUEUED)
                .group_by(Frame.provider)
            )
            return {str(provider): int(count) for provider, count in rows}

    def take_pending(self, job_id: str, provider: str, limit: int) -> list[FrameRow]:
        """Mark up to `limit` due pending frames of `provider` queued; returns them in order.

        Only the frames this call moved are returned, so the caller publishes exactly those.
        """
        if limit <= 0:
            return []
        now = self.clock()
        due = or_(Frame.not_before.is_(None), Frame.not_before <= now)
        chosen = (
            select(Frame.id)
            .where(
                Frame.job_id == job_id,
                Frame.state == _PENDING,
                Frame.provider == provider,
                due,
            )
            .order_by(Frame.index)
            .limit(limit)
            # Two feeders at once each take other frames instead of waiting on the other's
            # row locks and then finding them gone (PostgreSQL; SQLite takes a write lock). A
            # materialized CTE, or PostgreSQL would push the lock past the LIMIT.
            .with_for_update(skip_locked=True)
            .cte("chosen")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        with translated("taking frames to publish"), self.sessions.begin() as session:
            rows = session.execute(
                update(Frame)
                .where(Frame.id.in_(select(chosen.c.id)), Frame.state == _PENDING)
                .values(state=_QUEUED, not_before=None, lease_owner=None, updated_at=now)
                .returning(
                    Frame.index,
                    Frame.i_start,
                    Frame.i_end,
                    Frame.t_start_us,
                    Frame.t_end_us,
                    Frame.provider,
                )
            ).all()
        return sorted((FrameRow(*row[:5], provider=row[5]) for row in rows), key=_by_index)

    def untake(self, job_id: str, indices: Sequence[int]) -> None:
        """Give frames whose messages could not be published back to `pending`."""
        with translated("returning unpublished frames"), self.sessions.begin() as session:
            session.execute(
                update(Frame)
                .where(Frame.job_id == job_id, Frame.index.in_(indices), Frame.state == _QUEUED)
                .values(state=_PENDING, updated_at=self.clock())
            )

    def has_open_frames(self, job_id: str) -> bool:
        """True while a frame of the job still needs a worker (pending, queued or running)."""
        with translated("reading job state"), self.sessions() as session:
            found = session.scalar(
                select(Frame.id)
                .where(Frame.job_id == job_id, Frame.state.in_(OPEN_FRAME_STATES))
                .limit(1)
            )
            return found is not None

    def release_expired(self, job_id: str) -> int:
        """Frames whose worker's lease ran out (it died or hung) go back to `pending`.

        The claim counted the attempt, so a frame that keeps killing its worker still ends
        `failed` after `max_attempts` instead of looping.
        """
        now = self.clock()
        with translated("sweeping expired leases"), self.sessions.begin() as session:
            result = session.execute(
                update(Frame)
                .where(Frame.job_id == job_id, Frame.state == _RUNNING, Frame.lease_until < now)
                .values(state=_PENDING, lease_owner=None, lease_until=None, updated_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def release_queued(self, job_id: str, older_than: float | None = None) -> int:
        """Queued frames whose message is presumed lost go back to `pending`.

        `older_than` (epoch s) limits it to frames queued before then; None takes them all
        (the broker lost its data). A message that did survive only becomes a duplicate.
        """
        where = [Frame.job_id == job_id, Frame.state == _QUEUED]
        if older_than is not None:
            where.append(Frame.updated_at < older_than)
        with translated("sweeping lost messages"), self.sessions.begin() as session:
            result = session.execute(
                update(Frame).where(*where).values(state=_PENDING, updated_at=self.clock())
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _by_index(row: FrameRow) -> int:
    return row.index
