"""Jobs and frames for the cache and budget tests, written straight through `Store`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from labeller.store import ClaimedFrame, Frame, FrameState, Job, JobState, Store, phash_bands

__all__ = ["JOB", "LEASE_S", "MODEL", "PROMPT", "claimed", "done", "new_job", "pending", "row"]

JOB = "job0000000001"
LEASE_S = 30.0
MODEL = "gpt-4o-mini-2024-07-18"
#: `prompt_hash` of the default job.
PROMPT = "5f2b0c1e9a7d4e3f8b6a1c0d2e4f6a8b"


def pending(index: int) -> dict[str, Any]:
    """A planned frame: 50 ms and 100 events per index."""
    return {
        "index": index,
        "t_start_us": index * 50_000,
        "t_end_us": (index + 1) * 50_000,
        "i_start": index * 100,
        "i_end": (index + 1) * 100,
        "state": FrameState.pending.value,
        "provider": "openai",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "attempts": 0,
    }


def done(
    index: int,
    *,
    phash: int | None = None,
    image_hash: str | None = None,
    caption: str | None = None,
    model: str = MODEL,
    **changes: Any,
) -> dict[str, Any]:
    """A frame already captioned, with the hashes given (bands derived as the store does)."""
    b0, b1, b2, b3 = (None,) * 4 if phash is None else phash_bands(phash)
    return {
        **pending(index),
        "state": FrameState.done.value,
        "model": model,
        "caption": caption if caption is not None else f"caption {index}",
        "image_hash": image_hash,
        "phash": phash,
        "phash_b0": b0,
        "phash_b1": b1,
        "phash_b2": b2,
        "phash_b3": b3,
        **changes,
    }


def new_job(
    store: Store,
    frames: int | Iterable[dict[str, Any]] = 4,
    *,
    job_id: str = JOB,
    prompt_hash: str | None = PROMPT,
) -> int:
    """Create a running job with `frames` pending frames, or with the frame dicts given."""
    rows = [pending(index) for index in range(frames)] if isinstance(frames, int) else frames
    job = Job(
        id=job_id,
        recording="/data/zurich_city_00_a.h5",
        spec="{}",
        state=JobState.running.value,
        frame_count=0,
        simulated=False,
        created_at=store.clock(),
        prompt_hash=prompt_hash,
    )
    return store.create_job(job, rows)


def claimed(store: Store, index: int, worker: str = "w1", job_id: str = JOB) -> ClaimedFrame:
    frame = store.claim(job_id, index, "openai", worker, LEASE_S, 6)
    assert frame is not None, f"{worker} could not claim frame {index} of {job_id}"
    return frame


def row(engine: Engine, index: int, job_id: str = JOB) -> dict[str, Any]:
    """Every column of one frame, by name."""
    with engine.connect() as conn:
        found = conn.execute(
            select(Frame).where(Frame.job_id == job_id, Frame.index == index)
        ).one()
    return dict(found._mapping)
