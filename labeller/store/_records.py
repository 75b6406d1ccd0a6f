"""What the conditional writes take and give: a leased frame and a call's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, bindparam
from sqlalchemy.orm import Session

from labeller.store.models import Frame, FrameState

__all__ = ["HELD", "THIS_FRAME", "ClaimedFrame", "FrameOutcome", "changed", "held"]


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
    #: A pilot's frame: its window's index in the full job (see `Frame.full_index`).
    full_index: int | None = None

    @property
    def window(self) -> int:
        """The frame number the full job gives this window: what a prompt's `{frame}` says."""
        return self.index if self.full_index is None else self.full_index


@dataclass(frozen=True)
class FrameOutcome:
    """The fields a successful call writes onto its frame."""

    provider: str
    model: str
    caption: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def changed(
    session: Session | Connection, statement: Executable, params: dict[str, Any] | None = None
) -> bool:
    """Run a conditional UPDATE (with `params` for its bound parameters); True if it matched a
    row."""
    result = session.execute(statement, params)
    return isinstance(result, CursorResult) and result.rowcount > 0


_FRAMES = Frame.__table__.c
#: WHERE clauses of one frame, by the bound parameters `b_job_id` and `b_index`.
THIS_FRAME = (_FRAMES.job_id == bindparam("b_job_id"), _FRAMES.index == bindparam("b_index"))
#: WHERE clauses true only while the worker (`b_worker`) still holds the lease on the frame;
#: `held(frame, worker)` gives their parameters.
HELD = (
    *THIS_FRAME,
    _FRAMES.state == FrameState.running.value,
    _FRAMES.lease_owner == bindparam("b_worker"),
)


def held(frame: ClaimedFrame, worker: str) -> dict[str, Any]:
    """The parameters of `HELD` for `worker`'s lease on `frame`."""
    return {"b_job_id": frame.job_id, "b_index": frame.index, "b_worker": worker}
