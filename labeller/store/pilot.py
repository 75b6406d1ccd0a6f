"""What a pilot's figures are computed from: every call of a job, and every frame's caption.

A pilot holds a few hundred frames per provider, so its rows are read whole; the figures
(percentiles, agreement) are left to `labeller.jobs`, which keeps these queries portable.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from labeller.store._errors import translated
from labeller.store.models import Attempt, Frame

__all__ = ["CallRow", "CaptionRow", "read_calls", "read_captions"]


@dataclass(frozen=True)
class CallRow:
    """One provider call (an Attempt row) as the pilot figures need it."""

    frame_index: int
    provider: str
    #: An `AttemptStatus` value.
    status: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class CaptionRow:
    """One frame row: which window it is, who it is pinned to, and what came of it."""

    index: int
    provider: str
    #: The window: frames of a pilot that share it are the same frame, shown to each provider.
    t_start_us: int
    t_end_us: int
    i_start: int
    i_end: int
    state: str
    caption: str | None


def read_calls(engine: Engine, job_id: str) -> list[CallRow]:
    """Every call of the job, in the order they were made."""
    with translated("reading a job's calls"), engine.connect() as conn:
        rows = conn.execute(
            select(
                Attempt.frame_index,
                Attempt.provider,
                Attempt.status,
                Attempt.latency_ms,
                Attempt.prompt_tokens,
                Attempt.completion_tokens,
                Attempt.cost_usd,
            )
            .where(Attempt.job_id == job_id)
            .order_by(Attempt.started_at, Attempt.id)
        )
        return [CallRow(*row) for row in rows]


def read_captions(engine: Engine, job_id: str) -> list[CaptionRow]:
    """Every frame of the job, in index order."""
    with translated("reading a job's captions"), engine.connect() as conn:
        rows = conn.execute(
            select(
                Frame.index,
                Frame.provider,
                Frame.t_start_us,
                Frame.t_end_us,
                Frame.i_start,
                Frame.i_end,
                Frame.state,
                Frame.caption,
            )
            .where(Frame.job_id == job_id)
            .order_by(Frame.index)
        )
        return [CaptionRow(*row) for row in rows]
