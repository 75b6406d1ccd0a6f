"""The SQL store: models, engines, migrations, conditional writes and read-only queries."""

from __future__ import annotations

from labeller.store.engine import make_engine, normalise_url, sqlite_path
from labeller.store.migrate import upgrade
from labeller.store.models import (
    Attempt,
    AttemptStatus,
    Base,
    Frame,
    FrameState,
    Job,
    JobState,
)
from labeller.store.queries import (
    FrameRow,
    JobSummary,
    ProviderStats,
    failure_reasons,
    frames_in_states,
    get_job,
    iter_done_frames,
    stale_frames,
    summarise,
)
from labeller.store.store import ClaimedFrame, FrameOutcome, Store

__all__ = [
    "Attempt",
    "AttemptStatus",
    "Base",
    "ClaimedFrame",
    "Frame",
    "FrameOutcome",
    "FrameRow",
    "FrameState",
    "Job",
    "JobState",
    "JobSummary",
    "ProviderStats",
    "Store",
    "failure_reasons",
    "frames_in_states",
    "get_job",
    "iter_done_frames",
    "make_engine",
    "normalise_url",
    "sqlite_path",
    "stale_frames",
    "summarise",
    "upgrade",
]
