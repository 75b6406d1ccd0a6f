"""Read-only questions about jobs: counts, per-provider figures, frames to (re)publish, export."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.orm import Session

from labeller.store._errors import translated
from labeller.store.models import Attempt, AttemptStatus, Frame, FrameState, Job

__all__ = [
    "FrameCounts",
    "FrameRow",
    "failure_reasons",
    "JobSummary",
    "ProviderStats",
    "counts_by_job",
    "frames_in_states",
    "get_job",
    "iter_done_frames",
    "job_spend",
    "spend_by_job",
    "stale_frames",
    "summarise",
]


@dataclass(frozen=True)
class FrameRow:
    """A frame as the publisher needs it: ids and numbers only."""

    index: int
    i_start: int
    i_end: int
    t_start_us: int
    t_end_us: int
    provider: str


@dataclass
class ProviderStats:
    attempts: int = 0
    ok: int = 0
    rate_limited: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class FrameCounts:
    """A job's frames by state (`counts`, states never seen absent), read by name."""

    counts: dict[str, int]

    @property
    def done(self) -> int:
        return self.counts.get(FrameState.done.value, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(FrameState.failed.value, 0)

    @property
    def skipped(self) -> int:
        return self.counts.get(FrameState.skipped.value, 0)

    @property
    def cancelled(self) -> int:
        return self.counts.get(FrameState.cancelled.value, 0)


@dataclass
class JobSummary(FrameCounts):
    job_id: str
    state: str
    frame_count: int
    simulated: bool
    created_at: float
    finished_at: float | None
    counts: dict[str, int] = field(default_factory=dict)
    providers: dict[str, ProviderStats] = field(default_factory=dict)
    #: Finish times of the first and last done frame, epoch s.
    first_done_at: float | None = None
    last_done_at: float | None = None
    #: Done frames whose caption was reused from an identical or near-identical frame.
    cached: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped + self.cancelled

    @property
    def succeeded(self) -> bool:
        """Every frame captioned, or skipped on purpose."""
        return self.done + self.skipped == self.frame_count

    @property
    def cost_usd(self) -> float:
        return sum(p.cost_usd for p in self.providers.values())


def get_job(engine: Engine, job_id: str) -> Job | None:
    """The job row, detached from its session (read its columns freely)."""
    with translated("reading a job"), Session(engine, expire_on_commit=False) as session:
        return session.get(Job, job_id)


def summarise(engine: Engine, job: Job) -> JobSummary:
    """Counts by state and per-provider attempt figures for one job."""
    summary = JobSummary(
        job.id, job.state, job.frame_count, job.simulated, job.created_at, job.finished_at
    )
    with translated("summarising a job"), engine.connect() as conn:
        summary.counts = counts_by_job(conn, [job.id])[job.id]
        first, last, cached = conn.execute(
            select(
                func.min(Frame.finished_at),
                func.max(Frame.finished_at),
                func.sum(case((Frame.cached_from_job.is_not(None), 1), else_=0)),
            ).where(Frame.job_id == job.id, Frame.state == FrameState.done.value)
        ).one()
        summary.first_done_at, summary.last_done_at = first, last
        summary.cached = int(cached or 0)
        is_ok = Attempt.status == AttemptStatus.ok.value
        rows = conn.execute(
            select(
                Attempt.provider,
                func.count(),
                func.sum(case((is_ok, 1), else_=0)),
                func.sum(case((Attempt.status == AttemptStatus.rate_limited.value, 1), else_=0)),
                func.sum(Attempt.prompt_tokens),
                func.sum(Attempt.completion_tokens),
                func.sum(Attempt.cost_usd),
            )
            .where(Attempt.job_id == job.id)
            .group_by(Attempt.provider)
        )
        for provider, attempts, ok, limited, p_tok, c_tok, cost in rows:
            summary.providers[provider] = ProviderStats(
                attempts=int(attempts),
                ok=int(ok or 0),
                rate_limited=int(limited or 0),
                errors=int(attempts) - int(ok or 0) - int(limited or 0),
                prompt_tokens=int(p_tok or 0),
                completion_tokens=int(c_tok or 0),
                cost_usd=float(cost or 0.0),
            )
    return summary


def job_spend(engine: Engine, job_id: str) -> float:
    """What the job has cost so far (USD): every attempt's cost, failed calls included.

    Attempts, not frames: a frame's `cost_usd` is only its successful call's, while a timed-out
    or malformed reply may still have been billed. Cache hits make no attempt and cost nothing.
    """
    with translated("reading a job's spend"), engine.connect() as conn:
        return spend_by_job(conn, [job_id])[job_id]


def counts_by_job(conn: Connection, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Each job's frames by state, in one grouped query; a job without frames maps to {}."""
    counts: dict[str, dict[str, int]] = {job_id: {} for job_id in job_ids}
    if job_ids:
        for job_id, state, n in conn.execute(
            select(Frame.job_id, Frame.state, func.count())
            .where(Frame.job_id.in_(job_ids))
            .group_by(Frame.job_id, Frame.state)
        ):
            counts[job_id][state] = int(n)
    return counts


def spend_by_job(conn: Connection, job_ids: Sequence[str]) -> dict[str, float]:
    """Each job's spend (USD) as `job_spend` counts it, in one grouped query; 0.0 for none."""
    spent = dict.fromkeys(job_ids, 0.0)
    if job_ids:
        for job_id, cost in conn.execute(
            select(Attempt.job_id, func.sum(Attempt.cost_usd))
            .where(Attempt.job_id.in_(job_ids))
            .group_by(Attempt.job_id)
        ):
            spent[job_id] = float(cost or 0.0)
    return spent


def failure_reasons(engine: Engine, job_id: str, limit: int = 5) -> list[tuple[str, int]]:
    """The commonest errors of failed frames, most frequent first."""
    with translated("reading failures"), engine.connect() as conn:
        rows = conn.execute(
            select(Frame.error, func.count().label("n"))
            .where(Frame.job_id == job_id, Frame.state == FrameState.failed.value)
            .group_by(Frame.error)
            .order_by(func.count().desc())
            .limit(limit)
        )
        return [(str(error), int(n)) for error, n in rows]


def _frame_rows(engine: Engine, *where: object) -> list[FrameRow]:
    with translated("reading frames"), engine.connect() as conn:
        rows = conn.execute(
            select(
                Frame.index,
                Frame.i_start,
                Frame.i_end,
                Frame.t_start_us,
                Frame.t_end_us,
                Frame.provider,
            )
            .where(*where)  # type: ignore[arg-type]
            .order_by(Frame.index)
        )
        return [FrameRow(*(row[:5]), provider=row[5]) for row in rows]


def frames_in_states(engine: Engine, job_id: str, states: Sequence[str]) -> list[FrameRow]:
    return _frame_rows(engine, Frame.job_id == job_id, Frame.state.in_(states))


def stale_frames(engine: Engine, job_id: str, older_than: float) -> list[FrameRow]:
    """Frames queued or running untouched since `older_than` (epoch s): their message or
    worker is likely lost. Pending frames are not stale: the feeder has yet to send them."""
    return _frame_rows(
        engine,
        Frame.job_id == job_id,
        Frame.state.in_((FrameState.queued.value, FrameState.running.value)),
        Frame.updated_at < older_than,
    )


def iter_done_frames(engine: Engine, job_id: str) -> Iterator[Frame]:
    """Done frames in index order, streamed so a million-frame export stays small in memory."""
    with translated("exporting captions"), Session(engine) as session:
        yield from session.scalars(
            select(Frame)
            .where(Frame.job_id == job_id, Frame.state == FrameState.done.value)
            .order_by(Frame.index)
            .execution_options(yield_per=2000)
        )
