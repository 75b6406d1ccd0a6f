"""What a job did, row by row, for its report: when frames ended, every call, fallbacks, failures.

Rows are streamed (`yield_per`) so a million-frame job is read in bounded memory; aggregation
beyond counting is left to the caller, which keeps these queries the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import aliased

from labeller.store._errors import translated
from labeller.store.models import Attempt, AttemptStatus, Frame, FrameState

__all__ = [
    "FailureGroup",
    "FrameEnd",
    "SampleFrame",
    "count_attempts",
    "done_frame_indexes",
    "failure_groups",
    "fallbacks_by_provider",
    "first_frame_start_us",
    "iter_frame_ends",
    "ok_latencies",
    "sample_frames",
]

#: Rows fetched per round trip while streaming.
_BATCH = 5000


@dataclass(frozen=True)
class FrameEnd:
    """A frame that has ended: when (epoch s), how, and on which provider."""

    finished_at: float
    state: str
    provider: str


@dataclass(frozen=True)
class FailureGroup:
    """Failed frames sharing one error text: how many, and the first few frame indexes."""

    error: str
    count: int
    examples: tuple[int, ...]


@dataclass(frozen=True)
class SampleFrame:
    """A done frame as the report's gallery shows it."""

    index: int
    t_start_us: int
    t_end_us: int
    i_start: int
    i_end: int
    provider: str
    model: str | None
    caption: str


def iter_frame_ends(engine: Engine, job_id: str) -> Iterator[FrameEnd]:
    """Frames with a finish time (done, failed, skipped, cancelled), in no particular order."""
    with translated("reading frame times"), engine.connect() as conn:
        rows = conn.execution_options(yield_per=_BATCH).execute(
            select(Frame.finished_at, Frame.state, Frame.provider).where(
                Frame.job_id == job_id, Frame.finished_at.is_not(None)
            )
        )
        for finished_at, state, provider in rows:
            if finished_at is not None:  # excluded by the query; this tells the type checker
                yield FrameEnd(float(finished_at), str(state), str(provider))


def count_attempts(engine: Engine, job_id: str) -> int:
    with translated("counting calls"), engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(Attempt).where(Attempt.job_id == job_id)
        ).scalar_one()
    return int(n)


def ok_latencies(
    engine: Engine, job_id: str, progress: Callable[[int], None] | None = None
) -> dict[str, array[float]]:
    """Latency (ms) of every successful call of the job, per provider, packed; the pilot's
    percentiles and the report's box plots are both made of it. `progress(rows)` hears every
    _BATCH rows and at the end."""
    found: dict[str, array[float]] = {}
    seen = 0
    with translated("reading calls"), engine.connect() as conn:
        rows = conn.execution_options(yield_per=_BATCH).execute(
            select(Attempt.provider, Attempt.latency_ms).where(
                Attempt.job_id == job_id, Attempt.status == AttemptStatus.ok.value
            )
        )
        for provider, latency_ms in rows:
            found.setdefault(str(provider), array("d")).append(float(latency_ms))
            seen += 1
            if progress is not None and seen % _BATCH == 0:
                progress(seen)
    if progress is not None:
        progress(seen)
    return found


def fallbacks_by_provider(engine: Engine, job_id: str) -> dict[str, int]:
    """Done frames whose first call went to a provider other than the one that captioned them,
    counted by that first provider: the frames each provider handed on.

    A frame moved to a fallback before any call (its first provider's limiter was full) left
    no Attempt row there and is not counted. Cache hits made no call and are not counted.
    """
    first_ids = (
        select(func.min(Attempt.id).label("id"), Attempt.frame_index)
        .where(Attempt.job_id == job_id)
        .group_by(Attempt.frame_index)
        .subquery()
    )
    first = aliased(Attempt)
    query = (
        select(first.provider, func.count())
        .select_from(first_ids)
        .join(first, first.id == first_ids.c.id)
        .join(
            Frame,
            and_(Frame.job_id == job_id, Frame.index == first_ids.c.frame_index),
        )
        .where(Frame.state == FrameState.done.value, Frame.provider != first.provider)
        .group_by(first.provider)
    )
    with translated("reading fallbacks"), engine.connect() as conn:
        return {str(provider): int(n) for provider, n in conn.execute(query)}


def failure_groups(
    engine: Engine, job_id: str, *, limit: int = 20, examples: int = 5
) -> list[FailureGroup]:
    """Failed frames grouped by their error text, commonest first, with example frame indexes."""
    failed = and_(Frame.job_id == job_id, Frame.state == FrameState.failed.value)
    groups = []
    with translated("reading failures"), engine.connect() as conn:
        rows = conn.execute(
            select(Frame.error, func.count())
            .where(failed)
            .group_by(Frame.error)
            .order_by(func.count().desc(), Frame.error)
            .limit(limit)
        ).all()
        for error, n in rows:
            same = Frame.error.is_(None) if error is None else Frame.error == error
            indexes = conn.execute(
                select(Frame.index).where(failed, same).order_by(Frame.index).limit(examples)
            ).scalars()
            groups.append(
                FailureGroup(error or "(no error text)", int(n), tuple(int(i) for i in indexes))
            )
    return groups


def first_frame_start_us(engine: Engine, job_id: str) -> int | None:
    """Where the job's first window starts (epoch µs): the origin of the times a report shows."""
    with translated("reading frames"), engine.connect() as conn:
        start = conn.execute(
            select(func.min(Frame.t_start_us)).where(Frame.job_id == job_id)
        ).scalar_one()
    return None if start is None else int(start)


def done_frame_indexes(engine: Engine, job_id: str) -> Sequence[int]:
    """Indexes of the done frames, ascending, packed (8 MB for a million frames)."""
    with translated("reading frames"), engine.connect() as conn:
        rows = conn.execution_options(yield_per=_BATCH * 4).execute(
            select(Frame.index)
            .where(Frame.job_id == job_id, Frame.state == FrameState.done.value)
            .order_by(Frame.index)
        )
        return array("q", (int(i) for (i,) in rows))


def sample_frames(engine: Engine, job_id: str, indexes: Sequence[int]) -> list[SampleFrame]:
    """The done frames among `indexes`, in index order, with their captions."""
    if not indexes:
        return []
    with translated("reading frames"), engine.connect() as conn:
        rows = conn.execute(
            select(
                Frame.index,
                Frame.t_start_us,
                Frame.t_end_us,
                Frame.i_start,
                Frame.i_end,
                Frame.provider,
                Frame.model,
                Frame.caption,
            )
            .where(
                Frame.job_id == job_id,
                Frame.state == FrameState.done.value,
                Frame.index.in_(list(indexes)),
            )
            .order_by(Frame.index)
        )
        return [
            SampleFrame(
                int(index), int(t0), int(t1), int(i0), int(i1), str(p), m, str(caption or "")
            )
            for index, t0, t1, i0, i1, p, m, caption in rows
        ]
