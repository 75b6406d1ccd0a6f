"""What a pilot's per-frame figures are computed from: every frame's window and caption.

A pilot holds a few hundred frames per provider, so its rows are read whole; the figures
(caption length, agreement) are left to `labeller.jobs`, which keeps these queries portable.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from labeller.store._errors import translated
from labeller.store.models import Frame

__all__ = ["CaptionRow", "full_indexes", "read_captions"]


@dataclass(frozen=True)
class CaptionRow:
    """One frame row: which window it is, who it is pinned to, and what came of it."""

    index: int
    provider: str
    #: The window's index in the full job: a pilot's frames that share it are the same frame,
    #: shown to each provider. None in a full job.
    full_index: int | None
    state: str
    caption: str | None


def read_captions(engine: Engine, job_id: str) -> list[CaptionRow]:
    """Every frame of the job, in index order."""
    with translated("reading a job's captions"), engine.connect() as conn:
        rows = conn.execute(
            select(Frame.index, Frame.provider, Frame.full_index, Frame.state, Frame.caption)
            .where(Frame.job_id == job_id)
            .order_by(Frame.index)
        )
        return [CaptionRow(*row) for row in rows]


def full_indexes(engine: Engine, job_id: str) -> dict[int, int]:
    """A pilot's frame index -> the full job's index of its window (empty for a full job)."""
    with translated("reading a pilot's windows"), engine.connect() as conn:
        rows = conn.execute(
            select(Frame.index, Frame.full_index).where(
                Frame.job_id == job_id, Frame.full_index.is_not(None)
            )
        )
        return {index: full for index, full in rows if full is not None}
