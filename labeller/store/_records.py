"""What the conditional writes take and give: a leased frame and a call's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable
from sqlalchemy.orm import Session

from labeller.store.models import Frame, FrameState

__all__ = ["ClaimedFrame", "FrameOutcome", "changed", "held"]


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


def changed(session: Session | Connection, statement: Executable) -> bool:
    """Run a conditional UPDATE; True if it matched a row."""
    result = session.execute(statement)
    return isinstance(result, CursorResult) and result.rowcount > 0


def held(frame: ClaimedFrame, worker: str) -> tuple[Any, ...]:
    """WHERE clauses true only while `worker` still holds the lease on `frame`."""
    return (
        Frame.job_id == frame.job_id,
        Frame.index == frame.index,
        Frame.state == FrameState.running.value,
        Frame.lease_owner == worker,
    )
