"""Spend and the budget pause: what a job has cost, and a pause only `resume_job` lifts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from labeller.store import (
    Attempt,
    AttemptStatus,
    CachedCaption,
    FrameOutcome,
    JobState,
    Store,
    get_job,
    job_spend,
)
from tests.support import T0, FakeClock
from tests.unit.store.store_support import JOB, LEASE_S, MODEL, claimed, done, new_job, row

OTHER = "job0000000002"
REASON = "spend $1.02 reached the budget of $1.00"


def job_state(engine: Engine, job_id: str = JOB) -> tuple[str, str | None, float | None]:
    job = get_job(engine, job_id)
    assert job is not None
    return job.state, job.paused_reason, job.finished_at


def attempt(index: int, status: AttemptStatus, cost_usd: float, job_id: str = JOB) -> Attempt:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "frame_index": index,
        "number": 1,
        "provider": "openai",
        "key_alias": "OPENAI_API_KEY",
        "model": MODEL,
        "status": status.value,
        "http_status": None,
        "latency_ms": 300.0,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cost_usd": cost_usd,
        "error": None,
        "worker": "w",
        "started_at": T0,
    }
    return Attempt(**fields)


def caption(store: Store, index: int) -> None:
    outcome = FrameOutcome("openai", MODEL, f"caption {index}", 100, 10, 0.001)
    assert store.complete(claimed(store, index), "w1", outcome) is True


# --- pause and resume --------------------------------------------------------------------------


def test_pause_and_resume_a_running_job(store: Store, engine: Engine) -> None:
    new_job(store, 2)

    assert store.pause_job(JOB, REASON) is True
    assert job_state(engine) == (JobState.paused.value, REASON, None)
    assert store.pause_job(JOB, "again") is False
    assert job_state(engine)[1] == REASON

    assert store.resume_job(JOB) is True
    assert job_state(engine) == (JobState.running.value, None, None)
    assert store.resume_job(JOB) is False


def test_only_running_jobs_pause(store: Store, engine: Engine) -> None:
    new_job(store, 1)
    caption(store, 0)
    assert store.finish_job_if_complete(JOB) == JobState.done.value

    assert store.pause_job(JOB, REASON) is False
    assert store.pause_job("no-such-job", REASON) is False
    assert job_state(engine)[:2] == (JobState.done.value, None)


def test_finishing_never_overrides_a_pause(store: Store, engine: Engine, clock: FakeClock) -> None:
    new_job(store, 3)
    caption(store, 0)
    in_flight = [claimed(store, 1), claimed(store, 2)]
    store.pause_job(JOB, REASON)

    assert store.finish_job_if_complete(JOB) == JobState.paused.value
    for index, frame in enumerate(in_flight, start=1):  # calls already made still land
        outcome = FrameOutcome("openai", MODEL, f"late {index}", 100, 10, 0.001)
        assert store.complete(frame, "w1", outcome) is True
    assert store.finish_job_if_complete(JOB) == JobState.paused.value
    assert job_state(engine) == (JobState.paused.value, REASON, None)

    clock.advance(7.0)
    store.resume_job(JOB)
    assert store.finish_job_if_complete(JOB) == JobState.done.value
    assert job_state(engine) == (JobState.done.value, None, T0 + 7.0)


def test_a_paused_job_with_frames_left_reports_paused_then_running(store: Store) -> None:
    new_job(store, 2)
    caption(store, 0)

    store.pause_job(JOB, REASON)
    assert store.finish_job_if_complete(JOB) == JobState.paused.value
    store.resume_job(JOB)
    assert store.finish_job_if_complete(JOB) == JobState.running.value


def test_reopening_frames_of_a_paused_job_keeps_it_paused(store: Store, engine: Engine) -> None:
    new_job(store, 2)
    store.fail(claimed(store, 0), "w1", "openai: HTTP 400: bad")
    store.pause_job(JOB, REASON)

    store.reopen(JOB, [0], reset_attempts=True)

    assert job_state(engine)[:2] == (JobState.paused.value, REASON)
    assert row(engine, 0)["state"] == "pending"


def test_reopening_a_finished_job_runs_it_again(store: Store, engine: Engine) -> None:
    new_job(store, 1)
    store.fail(claimed(store, 0), "w1", "openai: HTTP 400: bad")
    assert store.finish_job_if_complete(JOB) == JobState.failed.value

    store.reopen(JOB, [0], reset_attempts=True)

    assert job_state(engine) == (JobState.running.value, None, None)


def test_resume_can_replace_the_spec_of_a_paused_job_only(store: Store, engine: Engine) -> None:
    new_job(store, 1)

    assert store.resume_job(JOB, '{"budget_usd": 5.0}') is False  # running: nothing changes
    store.pause_job(JOB, REASON)
    assert store.resume_job(JOB, '{"budget_usd": 5.0}') is True

    job = get_job(engine, JOB)
    assert job is not None and (job.state, job.spec) == ("running", '{"budget_usd": 5.0}')


def test_park_hands_a_claimed_frame_back_unsent(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, 2)
    frame = claimed(store, 0, "w1")
    clock.advance(2.0)

    assert store.park(frame, "w2") is False
    assert store.park(frame, "w1") is True
    assert store.park(frame, "w1") is False

    stored = row(engine, 0)
    assert (stored["state"], stored["attempts"], stored["lease_owner"]) == ("pending", 0, None)
    assert (stored["lease_until"], stored["updated_at"]) == (None, T0 + 2.0)
    assert claimed(store, 0, "w3").attempts == 1


def test_a_stale_holder_cannot_park(store: Store, engine: Engine, clock: FakeClock) -> None:
    new_job(store, 1)
    stale = claimed(store, 0, "w1")
    clock.advance(LEASE_S + 1)
    claimed(store, 0, "w2")

    assert store.park(stale, "w1") is False
    assert (row(engine, 0)["state"], row(engine, 0)["lease_owner"]) == ("running", "w2")


# --- spend -------------------------------------------------------------------------------------


def test_job_spend_sums_every_attempt_failed_ones_included(store: Store, engine: Engine) -> None:
    new_job(store, 3)
    new_job(store, 1, job_id=OTHER)
    assert job_spend(engine, JOB) == 0.0
    for record in (
        attempt(0, AttemptStatus.ok, 0.25),
        attempt(1, AttemptStatus.transient, 0.125),  # a timeout the provider still billed
        attempt(1, AttemptStatus.ok, 0.25),
        attempt(2, AttemptStatus.rate_limited, 0.0),
        attempt(0, AttemptStatus.ok, 8.0, job_id=OTHER),
    ):
        store.record_attempt(record)

    assert job_spend(engine, JOB) == pytest.approx(0.625)
    assert job_spend(engine, OTHER) == pytest.approx(8.0)
    assert job_spend(engine, "no-such-job") == 0.0


def test_cache_hits_add_nothing_to_the_spend(store: Store, engine: Engine) -> None:
    new_job(store, [done(0, caption="paid once"), {**done(1), "state": "pending"}])
    store.record_attempt(attempt(0, AttemptStatus.ok, 0.5))
    source = CachedCaption(JOB, 0, "paid once", "openai", MODEL)

    assert store.complete_from_cache(claimed(store, 1), "w1", source) is True

    assert job_spend(engine, JOB) == pytest.approx(0.5)
