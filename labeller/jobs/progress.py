"""Watch a job until every frame has ended, and the rates and ETA a person wants to see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labeller.errors import LabellerError
from labeller.store import JobSummary, Store, get_job, summarise

__all__ = ["Rates", "read_summary", "rates", "wait_for_job"]


@dataclass(frozen=True)
class Rates:
    #: Finished frames per second since the job was created.
    frames_per_s: float
    #: Seconds until every frame has ended at that rate; None before the first frame ends.
    eta_s: float | None
    elapsed_s: float


def rates(summary: JobSummary, now: float) -> Rates:
    end = summary.finished_at if summary.finished_at is not None else now
    elapsed = max(end - summary.created_at, 1e-9)
    per_s = summary.finished / elapsed
    remaining = summary.frame_count - summary.finished
    eta = remaining / per_s if per_s > 0 else None
    return Rates(per_s, eta, elapsed)


def read_summary(store: Store, job_id: str) -> JobSummary:
    job = get_job(store.engine, job_id)
    if job is None:
        raise LabellerError(f"job {job_id}: no such job")
    return summarise(store.engine, job)


def wait_for_job(
    store: Store,
    job_id: str,
    *,
    on_update: Callable[[JobSummary], None],
    sleep: Callable[[float], None],
    still_working: Callable[[], bool] = lambda: True,
    poll_s: float = 0.5,
) -> JobSummary:
    """Poll the database until no frame is in flight, or `still_working` says no one is left."""
    while True:
        state = store.finish_job_if_complete(job_id)
        summary = read_summary(store, job_id)
        on_update(summary)
        if state != "running" or not still_working():
            return summary
        sleep(poll_s)
