"""The feeder's and the sweeper's writes, and the job writes around them, on SQLite and PostgreSQL.

Planning in committed batches, cancelling, renewing a lease, a delayed re-route, and
`FeedWrites`: which jobs are fed, taking due frames exactly once (also under a race), giving
back frames that were never published, whose worker died, or whose message was lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from labeller.store import (
    Attempt,
    AttemptStatus,
    Frame,
    FrameOutcome,
    FrameRow,
    FrameState,
    Job,
    JobState,
    Store,
    get_job,
    make_engine,
)
from tests.support import T0, FakeClock
from tests.unit.store.store_support import JOB, LEASE_S, MODEL, claimed, new_job, pending, row

OTHER = "job0000000002"
THIRD = "job0000000003"


def states(engine: Engine, job_id: str = JOB) -> list[str]:
    with engine.connect() as conn:
        found = conn.execute(
            select(Frame.state).where(Frame.job_id == job_id).order_by(Frame.index)
        )
        return [str(state) for (state,) in found]


def frame_count(engine: Engine, job_id: str | None = None) -> int:
    query = select(func.count()).select_from(Frame)
    if job_id is not None:
        query = query.where(Frame.job_id == job_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def set_job_state(engine: Engine, state: JobState, job_id: str = JOB) -> None:
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(state=state.value))


def job_state(engine: Engine, job_id: str = JOB) -> str:
    job = get_job(engine, job_id)
    assert job is not None, f"job {job_id} is gone"
    return job.state


def indices(rows: list[FrameRow]) -> list[int]:
    return [r.index for r in rows]


def on(provider: str, index: int, **changes: Any) -> dict[str, Any]:
    return {**pending(index), "provider": provider, "not_before": None, **changes}


def outcome(caption: str) -> FrameOutcome:
    return FrameOutcome("openai", MODEL, caption, 112, 9, 0.0000222)


def attempt(index: int, job_id: str = JOB) -> Attempt:
    return Attempt(
        job_id=job_id,
        frame_index=index,
        number=1,
        provider="openai",
        key_alias="OPENAI_API_KEY",
        model=MODEL,
        status=AttemptStatus.ok.value,
        http_status=200,
        latency_ms=120.0,
        prompt_tokens=112,
        completion_tokens=9,
        cost_usd=0.0000222,
        error=None,
        worker="w1",
        started_at=T0,
    )


def planning_job(job_id: str = JOB) -> Job:
    return Job(
        id=job_id,
        recording="/data/zurich_city_00_a.h5",
        spec="{}",
        state=JobState.running.value,
        frame_count=0,
        simulated=False,
        created_at=T0,
    )


# --- create_job: planning in committed batches -------------------------------------------------


def test_create_job_plans_in_committed_batches_then_runs(
    store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labeller.store.store.INSERT_BATCH", 3)
    seen: list[tuple[int, str, int, int, list[str]]] = []

    def on_batch(count: int) -> None:
        job = get_job(engine, JOB)  # another connection: the batch is committed
        assert job is not None
        fed = [job_id for job_id, _ in store.feedable_jobs()]
        seen.append((count, job.state, job.frame_count, frame_count(engine, JOB), fed))

    assert store.create_job(planning_job(), (pending(i) for i in range(7)), on_batch=on_batch) == 7

    assert seen == [
        (3, "planning", 3, 3, [JOB]),
        (6, "planning", 6, 6, [JOB]),
        (7, "planning", 7, 7, [JOB]),
    ]
    job = get_job(engine, JOB)
    assert job is not None
    assert (job.state, job.frame_count) == (JobState.running.value, 7)


def test_an_error_while_planning_leaves_no_job(
    store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labeller.store.store.INSERT_BATCH", 3)
    batches: list[int] = []

    def frames() -> Iterator[dict[str, Any]]:
        yield from (pending(i) for i in range(4))  # one batch committed, one in the making
        raise RuntimeError("the recording broke off")

    with pytest.raises(RuntimeError, match="broke off"):
        store.create_job(planning_job(), frames(), on_batch=batches.append)

    assert batches == [3]
    assert get_job(engine, JOB) is None
    assert frame_count(engine) == 0


def test_an_interrupt_in_on_batch_leaves_no_job(
    store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labeller.store.store.INSERT_BATCH", 2)

    def on_batch(count: int) -> None:
        if count == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.create_job(planning_job(), (pending(i) for i in range(6)), on_batch=on_batch)

    assert get_job(engine, JOB) is None
    assert frame_count(engine) == 0


def test_planning_that_fails_after_a_paid_call_cancels_the_job_instead(
    store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labeller.store.store.INSERT_BATCH", 2)

    def on_batch(count: int) -> None:
        if count == 2:  # a worker already captioned frame 0 of the first batch
            frame = claimed(store, 0)
            store.record_attempt(attempt(0))
            assert store.complete(frame, "w1", outcome("A tram passes.")) is True
        else:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store.create_job(planning_job(), (pending(i) for i in range(5)), on_batch=on_batch)

    assert job_state(engine) == JobState.cancelled.value
    assert states(engine) == ["done", "cancelled", "cancelled", "cancelled"]
    assert row(engine, 0)["caption"] == "A tram passes."
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Attempt)).scalar_one() == 1


def test_discard_job_deletes_a_job_without_calls(store: Store, engine: Engine) -> None:
    new_job(store, frames=3)
    new_job(store, frames=2, job_id=OTHER)

    store.discard_job(JOB)

    assert get_job(engine, JOB) is None
    assert frame_count(engine, JOB) == 0
    assert job_state(engine, OTHER) == JobState.running.value
    assert frame_count(engine, OTHER) == 2


def test_a_job_without_frames_is_not_kept(store: Store, engine: Engine) -> None:
    calls: list[int] = []

    assert store.create_job(planning_job(), iter(()), on_batch=calls.append) == 0

    assert calls == []
    assert get_job(engine, JOB) is None


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_ends_every_open_frame_and_leaves_finished_ones(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=[*(pending(i) for i in range(5)), {**pending(5), "state": "skipped"}])
    store.complete(claimed(store, 0), "w1", outcome("A dog."))
    store.fail(claimed(store, 1), "w1", "openai: HTTP 400: bad")
    running = claimed(store, 2, "w2")
    store.take_pending(JOB, "openai", 1)  # frame 3 queued; 4 stays pending
    clock.advance(7.0)

    assert store.cancel_job(JOB) == 3

    assert states(engine) == ["done", "failed", "cancelled", "cancelled", "cancelled", "skipped"]
    for index in (2, 3, 4):
        stored = row(engine, index)
        assert (stored["error"], stored["lease_owner"], stored["lease_until"]) == (
            "cancelled",
            None,
            None,
        )
        assert stored["finished_at"] == T0 + 7.0
    assert (row(engine, 0)["caption"], row(engine, 0)["error"]) == ("A dog.", None)
    assert row(engine, 1)["error"] == "openai: HTTP 400: bad"
    job = get_job(engine, JOB)
    assert job is not None
    assert (job.state, job.finished_at) == (JobState.cancelled.value, T0 + 7.0)
    # The worker that held frame 2 lost it: its caption is not saved.
    assert store.complete(running, "w2", outcome("late")) is False
    assert store.finish_job_if_complete(JOB) == JobState.cancelled.value
    assert job_state(engine) == JobState.cancelled.value
    assert store.feedable_jobs() == []


def test_cancel_leaves_an_ended_job_in_its_state(store: Store, engine: Engine) -> None:
    new_job(store, frames=1)
    store.complete(claimed(store, 0), "w1", outcome("A dog."))
    assert store.finish_job_if_complete(JOB) == JobState.done.value

    assert store.cancel_job(JOB) == 0

    assert job_state(engine) == JobState.done.value
    assert states(engine) == ["done"]


def test_a_planning_job_does_not_finish_even_with_every_frame_done(
    store: Store, engine: Engine
) -> None:
    new_job(store, frames=2)
    set_job_state(engine, JobState.planning)
    for index in range(2):
        store.complete(claimed(store, index), "w1", outcome(f"caption {index}"))

    assert store.finish_job_if_complete(JOB) == JobState.planning.value

    assert job_state(engine) == JobState.planning.value


# --- leases and delayed re-routes --------------------------------------------------------------


def test_renew_lease_extends_it_while_held(store: Store, engine: Engine, clock: FakeClock) -> None:
    new_job(store)
    frame = claimed(store, 0, "w1")
    clock.advance(20.0)

    assert store.renew_lease(frame, "w1", LEASE_S) is True
    assert row(engine, 0)["lease_until"] == T0 + 20.0 + LEASE_S
    assert store.renew_lease(frame, "w2", LEASE_S) is False

    clock.advance(LEASE_S - 1)  # past the first lease, within the renewed one
    assert store.claim(JOB, 0, "openai", "w2", LEASE_S, 6) is None


def test_renew_lease_fails_once_another_worker_claimed_the_frame(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    stale = claimed(store, 0, "w1")
    clock.advance(LEASE_S + 1)
    claimed(store, 0, "w2")

    assert store.renew_lease(stale, "w1", LEASE_S) is False

    stored = row(engine, 0)
    assert (stored["lease_owner"], stored["lease_until"]) == ("w2", clock.now + LEASE_S)


def test_a_delayed_reroute_is_not_taken_before_it_is_due(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=3)
    frame = claimed(store, 1, "w1")

    assert store.reroute(frame, "w1", "openai", delay_s=30.0) is True
    assert row(engine, 1)["not_before"] == T0 + 30.0

    assert indices(store.take_pending(JOB, "openai", 10)) == [0, 2]
    clock.advance(29.5)
    assert store.take_pending(JOB, "openai", 10) == []
    clock.advance(0.5)
    assert indices(store.take_pending(JOB, "openai", 10)) == [1]
    stored = row(engine, 1)
    assert (stored["state"], stored["not_before"], stored["attempts"]) == ("queued", None, 1)


# --- which jobs are fed, and what is outstanding ------------------------------------------------


def test_feedable_jobs_are_running_and_planning_ones_oldest_first(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    clock.now = T0 + 30.0
    new_job(store, frames=1, job_id="job-newest")
    clock.now = T0 + 10.0
    new_job(store, frames=1, job_id="job-planning")
    set_job_state(engine, JobState.planning, "job-planning")
    clock.now = T0 + 20.0
    new_job(store, frames=1, job_id="job-paused")
    assert store.pause_job("job-paused", "budget reached") is True
    clock.now = T0
    new_job(store, frames=1, job_id="job-oldest")
    for ended in ("job-done", "job-cancelled", "job-failed"):
        new_job(store, frames=1, job_id=ended)
    store.cancel_job("job-cancelled")
    set_job_state(engine, JobState.done, "job-done")
    set_job_state(engine, JobState.failed, "job-failed")

    jobs = store.feedable_jobs()

    assert [job_id for job_id, _ in jobs] == ["job-oldest", "job-planning", "job-newest"]
    assert {spec for _, spec in jobs} == {"{}"}


def test_queued_counts_per_provider_over_the_given_jobs(store: Store) -> None:
    frames = [on("openai", 0), on("openai", 1), on("gemini", 2), on("openai", 3), on("gemini", 4)]
    new_job(store, frames=frames)
    new_job(store, frames=[on("openai", 0), on("openai", 1)], job_id=OTHER)
    new_job(store, frames=[on("openai", 0)], job_id=THIRD)
    store.take_pending(JOB, "openai", 2)
    store.take_pending(JOB, "gemini", 5)
    store.take_pending(OTHER, "openai", 5)
    store.take_pending(THIRD, "openai", 5)
    claimed(store, 0, "w1", job_id=OTHER)  # running: no longer counts

    assert store.queued_counts([JOB, OTHER]) == {"openai": 3, "gemini": 2}
    assert store.queued_counts([OTHER]) == {"openai": 1}
    assert store.queued_counts([]) == {}


# --- take_pending and untake ------------------------------------------------------------------


def test_take_pending_moves_due_frames_of_the_provider_in_order(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    frames = [
        on("openai", 0, not_before=T0 + 5.0),
        on("gemini", 1),
        on("openai", 2),
        on("openai", 3, not_before=T0),
        on("openai", 4),
        on("openai", 5),
    ]
    new_job(store, frames=frames)
    clock.advance(1.0)

    taken = store.take_pending(JOB, "openai", 3)

    assert taken == [
        FrameRow(2, 200, 300, 100_000, 150_000, provider="openai"),
        FrameRow(3, 300, 400, 150_000, 200_000, provider="openai"),
        FrameRow(4, 400, 500, 200_000, 250_000, provider="openai"),
    ]
    assert states(engine) == ["pending", "pending", "queued", "queued", "queued", "pending"]
    assert row(engine, 3)["not_before"] is None
    assert row(engine, 2)["updated_at"] == T0 + 1.0
    assert indices(store.take_pending(JOB, "openai", 3)) == [5]
    assert store.take_pending(JOB, "openai", 3) == []
    clock.advance(4.0)  # frame 0 is due now
    assert indices(store.take_pending(JOB, "openai", 3)) == [0]
    assert indices(store.take_pending(JOB, "gemini", 0)) == []
    assert indices(store.take_pending(JOB, "gemini", 3)) == [1]


def test_take_pending_returns_only_the_frames_it_moved(store: Store, engine: Engine) -> None:
    new_job(store, frames=5)
    new_job(store, frames=2, job_id=OTHER)
    claimed(store, 0)
    store.complete(claimed(store, 1), "w1", outcome("done"))
    store.mark_queued(JOB, [2], [FrameState.pending.value])

    assert indices(store.take_pending(JOB, "openai", 10)) == [3, 4]

    assert states(engine) == ["running", "done", "queued", "queued", "queued"]
    assert states(engine, OTHER) == ["pending", "pending"]


def test_concurrent_takes_share_the_frames_without_overlap(
    database_url: str, store: Store, clock: FakeClock
) -> None:
    total = 300
    new_job(store, frames=total)
    feeders = 2
    rounds = total // (7 * feeders) + 5  # enough for both to drain the job together
    barrier = threading.Barrier(feeders)
    taken: list[list[int]] = [[] for _ in range(feeders)]
    errors: list[BaseException] = []

    def feed(slot: int) -> None:
        engine = make_engine(database_url)
        own = Store(engine, clock=clock)
        try:
            assert own.has_open_frames(JOB)  # connected before the race starts
            for _ in range(rounds):  # both take at once, every round
                barrier.wait(timeout=10)
                taken[slot].extend(indices(own.take_pending(JOB, "openai", 7)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=feed, args=(slot,)) for slot in range(feeders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    first, second = (set(share) for share in taken)
    assert len(first) == len(taken[0]) and len(second) == len(taken[1])
    assert first.isdisjoint(second)
    assert first | second == set(range(total))
    assert store.take_pending(JOB, "openai", total) == []


def test_untake_gives_back_only_queued_frames_of_the_job(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=4)
    new_job(store, frames=2, job_id=OTHER)
    store.take_pending(JOB, "openai", 3)
    store.take_pending(OTHER, "openai", 2)
    claimed(store, 1)
    clock.advance(2.0)

    store.untake(JOB, [0, 1, 3])

    assert states(engine) == ["pending", "running", "queued", "pending"]
    assert states(engine, OTHER) == ["queued", "queued"]
    assert row(engine, 0)["updated_at"] == T0 + 2.0
    assert indices(store.take_pending(JOB, "openai", 10)) == [0, 3]


def test_has_open_frames_until_every_frame_ended(store: Store) -> None:
    new_job(store, frames=[*(pending(i) for i in range(4)), {**pending(4), "state": "skipped"}])
    new_job(store, frames=[{**pending(0), "state": "skipped"}], job_id=OTHER)
    store.complete(claimed(store, 0), "w1", outcome("done"))
    store.fail(claimed(store, 1), "w1", "openai: HTTP 400: bad")
    running = claimed(store, 2)
    store.take_pending(JOB, "openai", 1)  # frame 3
    assert store.has_open_frames(JOB) is True  # one running, one queued

    store.complete(running, "w1", outcome("done"))
    assert store.has_open_frames(JOB) is True  # one queued

    store.complete(claimed(store, 3), "w1", outcome("done"))
    assert store.has_open_frames(JOB) is False
    assert store.has_open_frames(OTHER) is False


def test_a_pending_frame_is_open(store: Store) -> None:
    new_job(store, frames=1)

    assert store.has_open_frames(JOB) is True

    store.cancel_job(JOB)
    assert store.has_open_frames(JOB) is False


# --- the sweeper ------------------------------------------------------------------------------


def test_release_expired_gives_back_frames_whose_lease_ran_out(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=4)
    new_job(store, frames=1, job_id=OTHER)
    claimed(store, 0, "w1")
    claimed(store, 0, "w1", job_id=OTHER)
    clock.advance(10.0)
    claimed(store, 1, "w2")
    store.take_pending(JOB, "openai", 1)  # frame 2 queued
    clock.advance(LEASE_S - 10.0)  # frame 0's lease_until itself: still held

    assert store.release_expired(JOB) == 0
    clock.advance(0.5)
    assert store.release_expired(JOB) == 1

    assert states(engine) == ["pending", "running", "queued", "pending"]
    stored = row(engine, 0)
    assert (stored["lease_owner"], stored["lease_until"], stored["attempts"]) == (None, None, 1)
    assert stored["updated_at"] == clock.now
    assert row(engine, 1)["lease_owner"] == "w2"
    assert states(engine, OTHER) == ["running"]  # another job's frames are its own sweep
    assert store.release_expired(JOB) == 0
    assert claimed(store, 0, "w3").attempts == 2


def test_release_queued_older_than_a_time(store: Store, engine: Engine, clock: FakeClock) -> None:
    new_job(store, frames=5)
    new_job(store, frames=1, job_id=OTHER)
    store.take_pending(JOB, "openai", 2)  # frames 0, 1 queued at T0
    store.take_pending(OTHER, "openai", 1)
    clock.advance(10.0)
    store.take_pending(JOB, "openai", 2)  # frames 2, 3 queued at T0 + 10
    claimed(store, 3)
    clock.advance(10.0)

    assert store.release_queued(JOB, older_than=T0) == 0
    assert store.release_queued(JOB, older_than=T0 + 5.0) == 2

    assert states(engine) == ["pending", "pending", "queued", "running", "pending"]
    assert row(engine, 0)["updated_at"] == T0 + 20.0
    assert states(engine, OTHER) == ["queued"]
    assert store.release_queued(JOB, older_than=T0 + 5.0) == 0


def test_release_queued_without_a_time_gives_back_every_queued_frame(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=4)
    store.take_pending(JOB, "openai", 3)
    claimed(store, 2)
    clock.advance(1.0)

    assert store.release_queued(JOB, None) == 2

    assert states(engine) == ["pending", "pending", "running", "pending"]
    assert indices(store.take_pending(JOB, "openai", 10)) == [0, 1, 3]


def test_planning_that_fails_while_a_worker_is_mid_call_cancels_the_job(
    store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labeller.store.store.INSERT_BATCH", 2)

    def on_batch(count: int) -> None:
        if count == 2:  # a worker claimed frame 0 and is calling: no attempt row yet
            claimed(store, 0)
        else:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store.create_job(planning_job(), (pending(i) for i in range(5)), on_batch=on_batch)

    # Deleting the job would leave that call's outcome nowhere to be written.
    assert job_state(engine) == JobState.cancelled.value
    assert states(engine) == ["cancelled"] * 4


def test_a_duplicate_message_does_not_claim_a_frame_before_it_is_due(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=1)
    frame = claimed(store, 0, "w1")
    assert store.reroute(frame, "w1", "openai", delay_s=30.0, refund_attempt=True) is True

    assert store.claim(JOB, 0, "openai", "w2", LEASE_S, 6) is None
    assert row(engine, 0)["state"] == "pending"  # not failed, just not yet
    clock.advance(30.0)
    assert store.claim(JOB, 0, "openai", "w2", LEASE_S, 6) is not None
