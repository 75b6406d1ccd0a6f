"""Watch a job until every frame has ended, and the rates and ETA a person wants to see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labeller.errors import LabellerError
from labeller.store import JobSummary, Store, get_job, summarise

__all__ = ["Rates", "read_summary", "rates", "wait_for_job"]


#: A running job with no frame finished for this long (s) is reported as stalled.
STALL_AFTER_S = 120.0


@dataclass(frozen=True)
class Rates:
    #: Finished frames per second since the job was created.
    frames_per_s: float
    #: Seconds until every frame has ended at that rate; None before the first frame ends
    #: and while stalled.
    eta_s: float | None
    elapsed_s: float
    #: Seconds since a frame last finished (or the job started), for a running job.
    idle_s: float | None

    @property
    def stalled(self) -> bool:
        return self.idle_s is not None and self.idle_s > STALL_AFTER_S


def rates(summary: JobSummary, now: float) -> Rates:
    end = summary.finished_at if summary.finished_at is not None else now
    elapsed = max(end - summary.created_at, 1e-9)
    per_s = summary.finished / elapsed
    remaining = summary.frame_count - summary.finished
    idle = None
    if summary.state == "running":
        idle = now - max(summary.last_done_at or summary.created_at, summary.created_at)
    stalled = idle is not None and idle > STALL_AFTER_S
    eta = remaining / per_s if per_s > 0 and remaining and not stalled else None
    return Rates(per_s, eta, elapsed, idle)


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
