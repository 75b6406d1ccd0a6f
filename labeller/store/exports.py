"""The rows an export writes, streamed in batches so a million-frame job stays small in memory.

Each query returns plain tuples in the order of its `*_FIELDS` constant, frames by index and
attempts by (frame, started_at, id), the order the calls were made: the export writers know
nothing of SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from labeller.store._errors import translated
from labeller.store.models import Attempt, Frame

__all__ = [
    "ATTEMPT_FIELDS",
    "FRAME_FIELDS",
    "count_frames",
    "iter_attempt_batches",
    "iter_frame_batches",
]

#: One exported frame: its window, who captioned it, the caption, and how it ended.
FRAME_FIELDS = (
    "frame",
    "t_start_us",
    "t_end_us",
    "provider",
    "model",
    "caption",
    "state",
    "error",
)
_FRAME_COLUMNS = (
    Frame.index,
    Frame.t_start_us,
    Frame.t_end_us,
    Frame.provider,
    Frame.model,
    Frame.caption,
    Frame.state,
    Frame.error,
)

#: One provider call. `key_alias` is the env var name the key came from, never the key.
ATTEMPT_FIELDS = (
    "frame",
    "attempt",
    "started_at",
    "provider",
    "key_alias",
    "model",
    "status",
    "http_status",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "error",
    "worker",
)
_ATTEMPT_COLUMNS = (
    Attempt.frame_index,
    Attempt.number,
    Attempt.started_at,
    Attempt.provider,
    Attempt.key_alias,
    Attempt.model,
    Attempt.status,
    Attempt.http_status,
    Attempt.latency_ms,
    Attempt.prompt_tokens,
    Attempt.completion_tokens,
    Attempt.cost_usd,
    Attempt.error,
    Attempt.worker,
)

Row = tuple[Any, ...]


def count_frames(engine: Engine, job_id: str, states: Sequence[str]) -> int:
    """Frames of the job in `states`: the length of its export."""
    with translated("counting frames"), engine.connect() as conn:
        query = select(func.count()).where(Frame.job_id == job_id, Frame.state.in_(states))
        return int(conn.scalar(query) or 0)


def iter_frame_batches(
    engine: Engine, job_id: str, states: Sequence[str], batch_rows: int
) -> Iterator[list[Row]]:
    """Frames in `states` by index, `batch_rows` at a time, fields as `FRAME_FIELDS`."""
    query = (
        select(*_FRAME_COLUMNS)
        .where(Frame.job_id == job_id, Frame.state.in_(states))
        .order_by(Frame.index)
    )
    yield from _batches(engine, query, batch_rows, "exporting frames")


def iter_attempt_batches(engine: Engine, job_id: str, batch_rows: int) -> Iterator[list[Row]]:
    """Every call the job made, by frame then start time, fields as `ATTEMPT_FIELDS`."""
    query = (
        select(*_ATTEMPT_COLUMNS)
        .where(Attempt.job_id == job_id)
        .order_by(Attempt.frame_index, Attempt.started_at, Attempt.id)
    )
    yield from _batches(engine, query, batch_rows, "exporting attempts")


def _batches(engine: Engine, query: Any, batch_rows: int, action: str) -> Iterator[list[Row]]:
    # yield_per streams: a server-side cursor on PostgreSQL, SQLite's own lazy cursor.
    with translated(action), engine.connect() as conn:
        result = conn.execution_options(yield_per=batch_rows).execute(query)
        for part in result.partitions():
            yield [tuple(row) for row in part]
