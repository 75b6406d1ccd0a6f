"""A job's own state: finished once no frame is in flight, paused and resumed around a budget.

`paused` is sticky: only `resume_job` leaves it (frames a worker claims meanwhile go back with
`Store.park`). Finishing never overrides it (a job paused
with its last frames in flight stays paused when they land; resuming finishes it), and
requeueing frames of a paused job reopens them without resuming the spend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from labeller.store._errors import translated
from labeller.store._records import changed
from labeller.store.models import TERMINAL_FRAME_STATES, Frame, FrameState, Job, JobState

__all__ = ["JobStateWrites"]

_PAUSED = JobState.paused.value


class JobStateWrites:
    """Job-level writes of `Store`; each is one transaction, conditional where it races."""

    sessions: sessionmaker[Session]
    clock: Callable[[], float]

    def finish_job_if_complete(self, job_id: str) -> str:
        """Set the job done/failed once no frame is left in flight; returns its state.

        A paused job stays paused (returns "paused"); otherwise "running" while frames are
        in flight. The final UPDATE skips a job paused meanwhile, and the state read back wins.
        """
        with translated("reading job state"), self.sessions.begin() as session:
            if session.scalar(select(Job.state).where(Job.id == job_id)) == _PAUSED:
                return _PAUSED
            open_frames = session.scalar(
                select(func.count())
                .select_from(Frame)
                .where(Frame.job_id == job_id, Frame.state.not_in(TERMINAL_FRAME_STATES))
            )
            if open_frames:
                return JobState.running.value
            failed = session.scalar(
                select(func.count())
                .select_from(Frame)
                .where(Frame.job_id == job_id, Frame.state == FrameState.failed.value)
            )
            state = JobState.failed.value if failed else JobState.done.value
            if changed(
                session,
                update(Job)
                .where(Job.id == job_id, Job.state.not_in((state, _PAUSED)))
                .values(state=state, finished_at=self.clock()),
            ):
                return state
            stored = session.scalar(select(Job.state).where(Job.id == job_id))
            return state if stored is None else str(stored)

    def reopen(self, job_id: str, indices: Sequence[int], *, reset_attempts: bool) -> None:
        """Move frames back to pending (and the job back to running, unless paused)."""
        values: dict[str, Any] = {
            "state": FrameState.pending.value,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": self.clock(),
        }
        if reset_attempts:
            values.update(attempts=0, error=None, finished_at=None)
        with translated("reopening frames"), self.sessions.begin() as session:
            session.execute(
                update(Frame).where(Frame.job_id == job_id, Frame.index.in_(indices)).values(values)
            )
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state != _PAUSED)
                .values(state=JobState.running.value, finished_at=None)
            )

    def pause_job(self, job_id: str, reason: str) -> bool:
        """Pause a running job (e.g. its spend reached the budget); False if it was not running.

        `reason` is shown to the user as is: say what was reached, never a secret.
        """
        with translated("pausing a job"), self.sessions.begin() as session:
            return changed(
                session,
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.running.value)
                .values(state=_PAUSED, paused_reason=reason),
            )

    def resume_job(self, job_id: str, spec: str | None = None) -> bool:
        """Set a paused job running again, its reason cleared; False if it was not paused.

        `spec`, if given, replaces the job's spec JSON in the same UPDATE (e.g. a new budget);
        a job that was not paused keeps its old one. Frames that ended during the pause do not
        finish the job by themselves: call `finish_job_if_complete` after resuming (as the
        progress loop does).
        """
        values: dict[str, Any] = {"state": JobState.running.value, "paused_reason": None}
        if spec is not None:
            values["spec"] = spec
        with translated("resuming a job"), self.sessions.begin() as session:
            return changed(
                session,
                update(Job).where(Job.id == job_id, Job.state == _PAUSED).values(values),
            )
