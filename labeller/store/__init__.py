"""The SQL store: models, engines, migrations, conditional writes, queries, the caption cache."""

from __future__ import annotations

from labeller.store.cache import (
    CACHE_PROVIDER,
    CachedCaption,
    find_exact,
    find_near,
    phash_bands,
)
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
    job_spend,
    stale_frames,
    summarise,
)
from labeller.store.store import ClaimedFrame, FrameOutcome, Store

__all__ = [
    "CACHE_PROVIDER",
    "Attempt",
    "AttemptStatus",
    "Base",
    "CachedCaption",
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
    "find_exact",
    "find_near",
    "frames_in_states",
    "get_job",
    "iter_done_frames",
    "job_spend",
    "make_engine",
    "normalise_url",
    "phash_bands",
    "sqlite_path",
    "stale_frames",
    "summarise",
    "upgrade",
]
