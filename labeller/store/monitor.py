"""Read-only questions the terminal views ask: the job list, one frame's whole path, and what
each provider is doing right now.

Each function is a few grouped queries whatever the number of jobs or frames shown, so a view
that refreshes every second stays cheap next to the workers' writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from labeller.store._errors import translated
from labeller.store.activity import first_frame_start_us
from labeller.store.models import Attempt, AttemptStatus, Frame, FrameState, Job
from labeller.store.queries import FrameCounts, counts_by_job, spend_by_job

__all__ = [
    "FrameDetail",
    "JobListing",
    "ProviderActivity",
    "frame_detail",
    "list_jobs",
    "provider_activity",
    "recently_finished",
]

#: The largest frame index the `frames.index` column holds (INTEGER: 32-bit on PostgreSQL).
MAX_FRAME_INDEX = 2**31 - 1


@dataclass(frozen=True)
class JobListing(FrameCounts):
    """One line of `labeller jobs`."""

    job_id: str
    recording: str
    #: A JobKind value: a full job or a pilot.
    kind: str
    state: str
    simulated: bool
    created_at: float
    finished_at: float | None
    frame_count: int
    counts: dict[str, int]
    #: Every attempt's cost (USD), failed calls included, as `job_spend` counts it.
    cost_usd: float


def list_jobs(engine: Engine, *, limit: int, state: str | None = None) -> list[JobListing]:
    """The newest `limit` jobs (in `state`, if given), newest first, with counts and spend."""
    with translated("listing jobs"), Session(engine, expire_on_commit=False) as session:
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if state is not None:
            query = query.where(Job.state == state)
        jobs = list(session.scalars(query))
        ids = [job.id for job in jobs]
        conn = session.connection()
        counts, spent = counts_by_job(conn, ids), spend_by_job(conn, ids)
    return [
        JobListing(
            job.id,
            job.recording,
            job.kind,
            job.state,
            job.simulated,
            job.created_at,
            job.finished_at,
            job.frame_count,
            counts[job.id],
            spent[job.id],
        )
        for job in jobs
    ]


@dataclass(frozen=True)
class FrameDetail:
    """A frame row and every provider call made for it, in the order they were made."""

    frame: Frame
    attempts: list[Attempt]
    #: Start (µs, file time) of the job's first frame, where its windows count from.
    origin_us: int


def frame_detail(engine: Engine, job_id: str, index: int) -> FrameDetail | None:
    """Frame `index` of the job with its attempts (detached rows), or None if there is none.

    An index no frame can have (negative, or past the 32-bit column PostgreSQL keeps) is
    None without a query: SQLite refuses ints past 2**63 with an OverflowError.
    """
    if not 0 <= index <= MAX_FRAME_INDEX:
        return None
    with translated("reading a frame"), Session(engine, expire_on_commit=False) as session:
        frame = session.scalar(select(Frame).where(Frame.job_id == job_id, Frame.index == index))
        if frame is None:
            return None
        attempts = list(
            session.scalars(
                select(Attempt)
                .where(Attempt.job_id == job_id, Attempt.frame_index == index)
                .order_by(Attempt.started_at, Attempt.number, Attempt.id)
            )
        )
    origin = first_frame_start_us(engine, job_id)
    return FrameDetail(frame, attempts, origin if origin is not None else frame.t_start_us)


@dataclass
class ProviderActivity:
    """What one provider is doing for a job now: frames waiting and running, recent calls."""

    queued: int = 0
    running: int = 0
    #: Attempts started in the recent window, and how many of them were 429s.
    recent_attempts: int = 0
    recent_429s: int = 0
    #: Recent attempts by status, for the JSON view.
    recent_by_status: dict[str, int] = field(default_factory=dict)


def provider_activity(
    engine: Engine, job_id: str, since: float, providers: Sequence[str]
) -> dict[str, ProviderActivity]:
    """Per provider: frames queued and running on it, attempts started at or after `since`
    (epoch s) and their 429s. Every name in `providers` has an entry, idle or not."""
    activity = {name: ProviderActivity() for name in providers}
    in_flight = (FrameState.queued.value, FrameState.running.value)
    with translated("reading provider activity"), engine.connect() as conn:
        for provider, frame_state, n in conn.execute(
            select(Frame.provider, Frame.state, func.count())
            .where(Frame.job_id == job_id, Frame.state.in_(in_flight))
            .group_by(Frame.provider, Frame.state)
        ):
            entry = activity.setdefault(provider, ProviderActivity())
            if frame_state == FrameState.queued.value:
                entry.queued = int(n)
            else:
                entry.running = int(n)
        for provider, status, n in conn.execute(
            select(Attempt.provider, Attempt.status, func.count())
            .where(Attempt.job_id == job_id, Attempt.started_at >= since)
            .group_by(Attempt.provider, Attempt.status)
        ):
            entry = activity.setdefault(provider, ProviderActivity())
            entry.recent_by_status[status] = int(n)
            entry.recent_attempts += int(n)
            if status == AttemptStatus.rate_limited.value:
                entry.recent_429s += int(n)
    return activity


def recently_finished(engine: Engine, job_id: str, since: float) -> int:
    """Frames captioned or failed at or after `since` (epoch s): the recent throughput."""
    ended = (FrameState.done.value, FrameState.failed.value)
    with translated("reading recent frames"), engine.connect() as conn:
        count = conn.execute(
            select(func.count()).where(
                Frame.job_id == job_id, Frame.state.in_(ended), Frame.finished_at >= since
            )
        ).scalar_one()
    return int(count)
