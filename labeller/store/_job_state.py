"""A job's own state: finished once no frame is in flight, paused and resumed around a budget,
cancelled on request.

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
from labeller.store.models import (
    OPEN_FRAME_STATES,
    TERMINAL_FRAME_STATES,
    Frame,
    FrameState,
    Job,
    JobState,
)

__all__ = ["JobStateWrites"]

_PAUSED = JobState.paused.value
_RUNNING = JobState.running.value
#: Jobs that `cancel` leaves as they are.
_ENDED = (JobState.done.value, JobState.failed.value, JobState.cancelled.value)
#: Jobs that requeued frames set running again (a paused one stays paused, a cancelled one
#: stays cancelled).
_REOPENABLE = (JobState.done.value, JobState.failed.value, _RUNNING)


class JobStateWrites:
    """Job-level writes of `Store`; each is one transaction, conditional where it races."""

    sessions: sessionmaker[Session]
    clock: Callable[[], float]

    def finish_job_if_complete(self, job_id: str) -> str:
        """Set a running job done/failed once no frame is left in flight; returns its state.

        Only a running job finishes: a paused, cancelled or still-planning one keeps its state
        (and returns it). The final UPDATE skips a job that left `running` meanwhile, and the
        state read back wins.
        """
        with translated("reading job state"), self.sessions.begin() as session:
            # The job's row lock orders this against `reopen` (which takes it first), so frames
            # requeued meanwhile are counted, not left pending in a job marked ended.
            current = session.scalar(select(Job.state).where(Job.id == job_id).with_for_update())
            if current != _RUNNING:
                return str(current)
            open_frames = session.scalar(
                select(func.count())
                .select_from(Frame)
                .where(Frame.job_id == job_id, Frame.state.not_in(TERMINAL_FRAME_STATES))
            )
            if open_frames:
                return _RUNNING
            failed = session.scalar(
                select(func.count())
                .select_from(Frame)
                .where(Frame.job_id == job_id, Frame.state == FrameState.failed.value)
            )
            state = JobState.failed.value if failed else JobState.done.value
            if changed(
                session,
                update(Job)
                .where(Job.id == job_id, Job.state == _RUNNING)
                .values(state=state, finished_at=self.clock()),
            ):
                return state
            stored = session.scalar(select(Job.state).where(Job.id == job_id))
            return state if stored is None else str(stored)

    def cancel_job(self, job_id: str) -> int:
        """Stop a job: every frame not yet captioned ends `cancelled`; returns how many.

        A worker holding one of them loses its lease, so its caption is not saved and the frame
        is not sent again; a message still on the broker is acknowledged without a call.
        """
        now = self.clock()
        with translated("cancelling a job"), self.sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state.not_in(_ENDED))
                .values(state=JobState.cancelled.value, finished_at=now, paused_reason=None)
            )
            result = session.execute(
                update(Frame)
                .where(Frame.job_id == job_id, Frame.state.in_(OPEN_FRAME_STATES))
                .values(
                    state=FrameState.cancelled.value,
                    error="cancelled",
                    lease_owner=None,
                    lease_until=None,
                    not_before=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def reopen(self, job_id: str, indices: Sequence[int], *, reset_attempts: bool) -> None:
        """Move frames back to pending (and the job back to running, unless paused)."""
        values: dict[str, Any] = {
            "state": FrameState.pending.value,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": self.clock(),
        }
        if reset_attempts:
            values.update(attempts=0, error=None, finished_at=None, not_before=None)
        with translated("reopening frames"), self.sessions.begin() as session:
            # The job row first: its lock makes a concurrent `finish_job_if_complete` wait and
            # then see these frames open.
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state.in_(_REOPENABLE))
                .values(state=_RUNNING, finished_at=None)
            )
            session.execute(
                update(Frame).where(Frame.job_id == job_id, Frame.index.in_(indices)).values(values)
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
