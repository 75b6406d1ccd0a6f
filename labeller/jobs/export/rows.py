"""What every export format writes: the same tables, columns and job metadata, whatever the file.

A `Table` is a name, typed columns and a stream of row batches; the writers turn it into JSON
lines, CSV, Parquet or HDF5 without asking the database anything themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine

from labeller.store import (
    ATTEMPT_FIELDS,
    FRAME_FIELDS,
    FrameState,
    Job,
    JobKind,
    full_indexes,
    get_job,
    iter_attempt_batches,
    iter_frame_batches,
)

__all__ = [
    "Column",
    "ExportMeta",
    "Kind",
    "Row",
    "Table",
    "attempt_table",
    "exported_states",
    "frame_table",
]

Row = tuple[Any, ...]


class Kind(StrEnum):
    #: 64-bit signed integer.
    integer = "integer"
    #: 64-bit float.
    real = "real"
    #: UTF-8 text.
    text = "text"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    #: May be missing: null in JSON and Parquet, empty in CSV, "" or 0 in HDF5 (no nulls there).
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    """One table of an export: `frames` (the captions) or `attempts` (the audit trail)."""

    name: str
    #: Values that hold for every row (the job id): a leading column in row formats, an HDF5
    #: attribute in `.h5`, where a column of one repeated value would only cost space.
    constants: dict[str, str]
    columns: tuple[Column, ...]
    batches: Iterable[list[Row]]


@dataclass(frozen=True)
class ExportMeta:
    """The job an export came from: HDF5 attributes and Parquet key-value metadata."""

    job_id: str
    recording: str
    prompt: str
    #: Empty for a job made before prompts were hashed.
    prompt_hash: str
    #: When the job was created, ISO 8601 in UTC.
    created: str
    job_state: str
    frame_count: int
    include_failed: bool

    @classmethod
    def of(cls, job: Job, *, include_failed: bool) -> ExportMeta:
        spec: dict[str, Any] = json.loads(job.spec)
        created = datetime.fromtimestamp(job.created_at, UTC).isoformat(timespec="seconds")
        return cls(
            job_id=job.id,
            recording=job.recording,
            prompt=str(spec.get("prompt", "")),
            prompt_hash=job.prompt_hash or "",
            created=created,
            job_state=job.state,
            frame_count=job.frame_count,
            include_failed=include_failed,
        )

    def as_dict(self) -> dict[str, str | int | bool]:
        return dict(vars(self))


_I, _F, _S = Kind.integer, Kind.real, Kind.text
_FRAME_COLUMNS = {
    "frame": Column("frame", _I),
    "t_start_us": Column("t_start_us", _I),
    "t_end_us": Column("t_end_us", _I),
    "provider": Column("provider", _S),
    "model": Column("model", _S, nullable=True),
    "caption": Column("caption", _S, nullable=True),
    "state": Column("state", _S),
    "error": Column("error", _S, nullable=True),
}
_ATTEMPT_COLUMNS = {
    "frame": Column("frame", _I),
    # 1 for a frame's first call.
    "attempt": Column("attempt", _I),
    # Epoch seconds.
    "started_at": Column("started_at", _F),
    "provider": Column("provider", _S),
    "key_alias": Column("key_alias", _S, nullable=True),
    "model": Column("model", _S),
    "status": Column("status", _S),
    # Missing when no HTTP answer came (timeout, connection error).
    "http_status": Column("http_status", _I, nullable=True),
    "latency_ms": Column("latency_ms", _F),
    "prompt_tokens": Column("prompt_tokens", _I),
    "completion_tokens": Column("completion_tokens", _I),
    "cost_usd": Column("cost_usd", _F),
    "error": Column("error", _S, nullable=True),
    "worker": Column("worker", _S),
}
#: The last two frame fields (state, error) only matter once failed frames are exported too.
_FAILED_ONLY = 2
#: A pilot's rows repeat each sampled window once per provider: `window`, after `frame`, is the
#: frame number the full job gives that window (its prompts' `{frame}`), to match them up.
_WINDOW = Column("window", _I)


def exported_states(include_failed: bool) -> tuple[str, ...]:
    if include_failed:
        return (FrameState.done.value, FrameState.failed.value)
    return (FrameState.done.value,)


def frame_table(
    engine: Engine,
    job_id: str,
    *,
    include_failed: bool,
    batch_rows: int,
    on_rows: Callable[[int], None],
) -> Table:
    """Done (and with `include_failed`, failed) frames in index order; a pilot's with `window`."""
    width = len(FRAME_FIELDS) - (0 if include_failed else _FAILED_ONLY)
    columns = tuple(_FRAME_COLUMNS[name] for name in FRAME_FIELDS[:width])
    batches = iter_frame_batches(engine, job_id, exported_states(include_failed), batch_rows)
    trimmed = ([row[:width] for row in batch] for batch in batches)
    job = get_job(engine, job_id)
    if job is not None and job.kind == JobKind.pilot.value:
        windows = full_indexes(engine, job_id)
        columns = (columns[0], _WINDOW, *columns[1:])
        trimmed = ([(r[0], windows[r[0]], *r[1:]) for r in batch] for batch in trimmed)
    return Table("frames", {"job_id": job_id}, columns, _counted(trimmed, on_rows))


def attempt_table(
    engine: Engine, job_id: str, *, batch_rows: int, on_rows: Callable[[int], None]
) -> Table:
    """Every provider call of the job, by frame and attempt number."""
    columns = tuple(_ATTEMPT_COLUMNS[name] for name in ATTEMPT_FIELDS)
    batches = iter_attempt_batches(engine, job_id, batch_rows)
    return Table("attempts", {"job_id": job_id}, columns, _counted(batches, on_rows))


def _counted(batches: Iterable[list[Row]], on_rows: Callable[[int], None]) -> Iterator[list[Row]]:
    for batch in batches:
        yield batch
        on_rows(len(batch))
