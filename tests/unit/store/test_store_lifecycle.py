"""A frame's life in SQL, on SQLite and PostgreSQL: conditional writes, leases, attempt caps.

Times come from a fake clock handed to `Store`, so lease expiry is a step, never a wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text

from labeller.errors import StoreError
from labeller.store import (
    Attempt,
    AttemptStatus,
    ClaimedFrame,
    Frame,
    FrameOutcome,
    FrameState,
    Job,
    JobState,
    Store,
    frames_in_states,
    get_job,
    iter_done_frames,
    make_engine,
    stale_frames,
    summarise,
    upgrade,
)
from tests.support import T0, FakeClock

LEASE_S = 30.0
JOB = "job0000000001"


def frame_dicts(count: int, provider: str = "openai") -> Iterator[dict[str, Any]]:
    for index in range(count):
        yield {
            "index": index,
            "t_start_us": index * 50_000,
            "t_end_us": (index + 1) * 50_000,
            "i_start": index * 100,
            "i_end": (index + 1) * 100,
            "state": FrameState.pending.value,
            "provider": provider,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "attempts": 0,
        }


def new_job(store: Store, frames: int = 4, job_id: str = JOB) -> int:
    job = Job(
        id=job_id,
        recording="/data/zurich_city_00_a.h5",
        spec="{}",
        state=JobState.running.value,
        frame_count=frames,
        simulated=False,
        created_at=store.clock(),
    )
    return store.create_job(job, frame_dicts(frames))


def row(engine: Engine, index: int, job_id: str = JOB) -> Frame:
    with engine.connect() as conn:
        found = conn.execute(
            select(Frame).where(Frame.job_id == job_id, Frame.index == index)
        ).one()
    frame = Frame()
    for column, value in found._mapping.items():
        setattr(frame, column, value)
    return frame


def job_row(engine: Engine, job_id: str = JOB) -> Job:
    job = get_job(engine, job_id)
    assert job is not None
    return job


def outcome(caption: str, provider: str = "openai") -> FrameOutcome:
    return FrameOutcome(provider, "gpt-4o-mini-2024-07-18", caption, 112, 9, 0.0000222)


def claim(store: Store, index: int, worker: str, max_attempts: int = 6) -> ClaimedFrame | None:
    return store.claim(JOB, index, "openai", worker, LEASE_S, max_attempts)


def claimed(store: Store, index: int, worker: str, max_attempts: int = 6) -> ClaimedFrame:
    frame = claim(store, index, worker, max_attempts)
    assert frame is not None, f"{worker} could not claim frame {index}"
    return frame


# --- schema and creation -----------------------------------------------------------------------


def test_upgrade_twice_is_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        upgrade(engine)

        tables = set(inspect(engine).get_table_names())
        assert {"jobs", "frames", "attempts", "alembic_version"} <= tables
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
        assert new_job(Store(engine, clock=FakeClock()), frames=2) == 2
    finally:
        engine.dispose()


def test_create_job_inserts_every_frame_at_once(store: Store, engine: Engine) -> None:
    count = 12_345  # more than one INSERT batch

    assert new_job(store, frames=count) == count

    with engine.connect() as conn:
        rows = conn.execute(
            select(func.count(), func.min(Frame.index), func.max(Frame.index)).where(
                Frame.job_id == JOB, Frame.state == FrameState.pending.value, Frame.updated_at == T0
            )
        ).one()
    assert tuple(rows) == (count, 0, count - 1)
    job = job_row(engine)
    assert (job.state, job.frame_count, job.created_at) == (JobState.running.value, count, T0)


def test_create_job_is_all_or_nothing(store: Store, engine: Engine) -> None:
    frames = [*frame_dicts(3), *frame_dicts(1)]  # index 0 twice
    job = Job(
        id=JOB,
        recording="r.h5",
        spec="{}",
        state=JobState.running.value,
        frame_count=4,
        simulated=False,
        created_at=T0,
    )

    with pytest.raises(StoreError, match="writing frames"):
        store.create_job(job, frames)

    assert get_job(engine, JOB) is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Frame)).scalar() == 0


def test_get_job_of_an_unknown_id_is_none(store: Store, engine: Engine) -> None:
    new_job(store)

    assert get_job(engine, "nope") is None


# --- claims and leases -------------------------------------------------------------------------


def test_claim_leases_the_frame(store: Store, engine: Engine) -> None:
    new_job(store)

    frame = claim(store, 2, "w1")

    assert frame == ClaimedFrame(JOB, 2, 200, 300, 100_000, 150_000, 1)
    stored = row(engine, 2)
    assert stored.state == FrameState.running.value
    assert (stored.lease_owner, stored.lease_until, stored.attempts) == ("w1", T0 + LEASE_S, 1)


def test_a_second_claim_while_the_lease_holds_gets_nothing(store: Store, engine: Engine) -> None:
    new_job(store)
    claimed(store, 0, "w1")

    assert claim(store, 0, "w2") is None

    stored = row(engine, 0)
    assert (stored.state, stored.lease_owner, stored.attempts) == ("running", "w1", 1)


def test_an_expired_lease_can_be_claimed_again(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    claimed(store, 0, "w1")

    clock.advance(LEASE_S)  # lease_until itself still holds
    assert claim(store, 0, "w2") is None
    clock.advance(0.5)
    again = claim(store, 0, "w2")

    assert again == ClaimedFrame(JOB, 0, 0, 100, 0, 50_000, 2)
    stored = row(engine, 0)
    assert (stored.lease_owner, stored.lease_until) == ("w2", clock.now + LEASE_S)


def test_complete_by_the_lease_holder_works_once(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    frame = claimed(store, 1, "w1")
    clock.advance(2.5)

    assert store.complete(frame, "w1", outcome("A bike turns left.")) is True
    assert store.complete(frame, "w1", outcome("A bike turns right.")) is False

    stored = row(engine, 1)
    assert stored.state == FrameState.done.value
    assert stored.caption == "A bike turns left."
    assert (stored.model, stored.prompt_tokens, stored.completion_tokens) == (
        "gpt-4o-mini-2024-07-18",
        112,
        9,
    )
    assert stored.cost_usd == pytest.approx(0.0000222)
    assert (stored.lease_owner, stored.lease_until) == (None, None)
    assert stored.finished_at == T0 + 2.5


def test_a_stale_holder_cannot_overwrite_the_first_caption(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    stale = claimed(store, 0, "w1")
    clock.advance(LEASE_S + 1)
    fresh = claimed(store, 0, "w2")

    assert store.complete(fresh, "w2", outcome("first")) is True
    assert store.complete(stale, "w1", outcome("late")) is False

    assert row(engine, 0).caption == "first"


def test_a_stale_holder_loses_even_before_the_new_holder_finishes(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    stale = claimed(store, 0, "w1")
    clock.advance(LEASE_S + 1)
    fresh = claimed(store, 0, "w2")

    assert store.complete(stale, "w1", outcome("late")) is False
    assert store.fail(stale, "w1", "late failure") is False
    assert store.reroute(stale, "w1", "other") is False
    assert store.complete(fresh, "w2", outcome("fresh")) is True

    stored = row(engine, 0)
    assert (stored.caption, stored.provider, stored.error) == ("fresh", "openai", None)


def test_a_done_frame_is_never_claimed_nor_failed(store: Store, engine: Engine) -> None:
    new_job(store)
    store.complete(claimed(store, 0, "w1", max_attempts=1), "w1", outcome("done"))

    assert claim(store, 0, "w2", max_attempts=1) is None

    stored = row(engine, 0)
    assert (stored.state, stored.caption, stored.error) == ("done", "done", None)


def test_fail_by_the_holder(store: Store, engine: Engine) -> None:
    new_job(store)
    frame = claimed(store, 0, "w1")

    assert store.fail(frame, "w2", "not mine") is False
    assert store.fail(frame, "w1", "openai: HTTP 400: Invalid image") is True

    stored = row(engine, 0)
    assert (stored.state, stored.error) == ("failed", "openai: HTTP 400: Invalid image")
    assert (stored.lease_owner, stored.finished_at) == (None, T0)


# --- attempts ----------------------------------------------------------------------------------


def test_claims_beyond_max_attempts_fail_the_frame(store: Store, engine: Engine) -> None:
    new_job(store)
    for attempt in (1, 2):
        frame = claimed(store, 0, f"w{attempt}", max_attempts=2)
        assert frame.attempts == attempt
        assert store.reroute(frame, f"w{attempt}", "openai") is True

    assert claim(store, 0, "w3", max_attempts=2) is None

    stored = row(engine, 0)
    assert stored.state == FrameState.failed.value
    assert stored.error == "gave up after 2 attempts"
    assert (stored.attempts, stored.lease_owner, stored.finished_at) == (2, None, T0)


def test_a_frame_that_keeps_losing_its_worker_ends_failed(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    for worker in ("w1", "w2", "w3"):
        claimed(store, 0, worker, max_attempts=3)
        clock.advance(LEASE_S + 1)  # the worker died holding the lease

    assert claim(store, 0, "w4", max_attempts=3) is None

    stored = row(engine, 0)
    assert (stored.state, stored.error) == ("failed", "gave up after 3 attempts")


def test_reroute_hands_the_frame_back_to_the_feeder(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store)
    frame = claimed(store, 0, "w1")

    assert store.reroute(frame, "w2", "gemini") is False
    assert store.reroute(frame, "w1", "gemini", delay_s=30.0) is True

    stored = row(engine, 0)
    assert (stored.state, stored.provider, stored.attempts) == ("pending", "gemini", 1)
    assert (stored.lease_owner, stored.lease_until) == (None, None)
    assert stored.not_before == clock() + 30.0


def test_reroute_with_refund_gives_the_attempt_back(store: Store, engine: Engine) -> None:
    new_job(store)
    for _ in range(5):  # rate-limit waits made no call, so they cost no attempt
        frame = claimed(store, 0, "w1", max_attempts=1)
        assert frame.attempts == 1
        assert store.reroute(frame, "w1", "openai", refund_attempt=True) is True
        assert row(engine, 0).attempts == 0

    assert claimed(store, 0, "w1", max_attempts=1).attempts == 1


def test_mark_queued_moves_only_the_given_states(store: Store, engine: Engine) -> None:
    new_job(store)
    claimed(store, 1, "w1")

    store.mark_queued(JOB, [0, 1, 2], [FrameState.pending.value])

    states = [row(engine, index).state for index in range(4)]
    assert states == ["queued", "running", "queued", "pending"]


# --- job state ---------------------------------------------------------------------------------


def finish_all(store: Store, indices: range, *, fail: set[int] | None = None) -> None:
    for index in indices:
        frame = claimed(store, index, "w")
        if index in (fail or set()):
            store.fail(frame, "w", "openai: HTTP 400: bad")
        else:
            store.complete(frame, "w", outcome(f"caption {index}"))


def test_finish_job_waits_for_every_frame(store: Store, engine: Engine, clock: FakeClock) -> None:
    new_job(store, frames=3)
    finish_all(store, range(2))

    assert store.finish_job_if_complete(JOB) == JobState.running.value
    assert (job_row(engine).state, job_row(engine).finished_at) == ("running", None)

    finish_all(store, range(2, 3))
    clock.advance(5.0)
    assert store.finish_job_if_complete(JOB) == JobState.done.value
    clock.advance(5.0)
    assert store.finish_job_if_complete(JOB) == JobState.done.value

    job = job_row(engine)
    assert (job.state, job.finished_at) == ("done", T0 + 5.0)


def test_finish_job_with_a_failed_frame_fails_the_job(store: Store, engine: Engine) -> None:
    new_job(store, frames=3)
    finish_all(store, range(3), fail={1})

    assert store.finish_job_if_complete(JOB) == JobState.failed.value

    assert job_row(engine).state == JobState.failed.value


def test_reopen_resets_frames_and_job(store: Store, engine: Engine) -> None:
    new_job(store, frames=3)
    finish_all(store, range(3), fail={0, 1})
    store.finish_job_if_complete(JOB)

    store.reopen(JOB, [0], reset_attempts=True)
    store.reopen(JOB, [1], reset_attempts=False)

    first, second, third = (row(engine, index) for index in range(3))
    assert (first.state, first.attempts, first.error, first.finished_at) == (
        "pending",
        0,
        None,
        None,
    )
    assert (second.state, second.attempts, second.lease_owner) == ("pending", 1, None)
    assert third.state == FrameState.done.value
    job = job_row(engine)
    assert (job.state, job.finished_at) == ("running", None)
    assert claimed(store, 0, "w", max_attempts=1).attempts == 1


# --- queries -----------------------------------------------------------------------------------


def attempt(
    index: int, number: int, provider: str, status: AttemptStatus, **changes: Any
) -> Attempt:
    fields: dict[str, Any] = {
        "job_id": JOB,
        "frame_index": index,
        "number": number,
        "provider": provider,
        "key_alias": "OPENAI_API_KEY",
        "model": "gpt-4o-mini",
        "status": status.value,
        "http_status": None,
        "latency_ms": 120.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "error": None,
        "worker": "w",
        "started_at": T0,
    }
    fields.update(changes)
    return Attempt(**fields)


def test_summarise_counts_states_and_provider_figures(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=5)
    clock.advance(1.0)
    finish_all(store, range(1))
    clock.advance(3.0)
    finish_all(store, range(1, 3), fail={2})
    claimed(store, 3, "w")
    ok = AttemptStatus.ok
    for record in (
        attempt(0, 1, "openai", AttemptStatus.rate_limited, http_status=429),
        attempt(0, 2, "gemini", ok, prompt_tokens=100, completion_tokens=10, cost_usd=0.25),
        attempt(1, 1, "openai", ok, prompt_tokens=112, completion_tokens=9, cost_usd=0.5),
        attempt(2, 1, "openai", AttemptStatus.bad_request, http_status=400),
        attempt(3, 1, "openai", AttemptStatus.overloaded, http_status=529),
        attempt(3, 2, "openai", AttemptStatus.rate_limited, http_status=429),
    ):
        store.record_attempt(record)

    summary = summarise(engine, job_row(engine))

    assert summary.counts == {"done": 2, "failed": 1, "running": 1, "pending": 1}
    assert (summary.done, summary.failed, summary.finished) == (2, 1, 3)
    assert (summary.frame_count, summary.state, summary.simulated) == (5, "running", False)
    assert (summary.first_done_at, summary.last_done_at) == (T0 + 1.0, T0 + 4.0)
    openai, gemini = summary.providers["openai"], summary.providers["gemini"]
    assert (openai.attempts, openai.ok, openai.rate_limited, openai.errors) == (5, 1, 2, 2)
    assert (openai.prompt_tokens, openai.completion_tokens) == (112, 9)
    assert (gemini.attempts, gemini.ok, gemini.rate_limited, gemini.errors) == (1, 1, 0, 0)
    assert openai.cost_usd == pytest.approx(0.5)
    assert summary.cost_usd == pytest.approx(0.75)
    assert set(summary.providers) == {"openai", "gemini"}


def test_summarise_a_job_without_attempts(store: Store, engine: Engine) -> None:
    new_job(store, frames=2)

    summary = summarise(engine, job_row(engine))

    assert summary.counts == {"pending": 2}
    assert summary.providers == {}
    assert (summary.first_done_at, summary.last_done_at, summary.cost_usd) == (None, None, 0.0)


def test_stale_frames_are_in_flight_and_untouched_since(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    new_job(store, frames=6)
    store.mark_queued(JOB, [0, 4], [FrameState.pending.value])  # touched at T0
    clock.advance(10.0)
    claimed(store, 1, "w")  # running, touched at T0 + 10
    store.mark_queued(JOB, [4], [FrameState.queued.value])  # touched again at T0 + 10
    finish_all(store, range(2, 3))  # done: never stale
    store.fail(claimed(store, 3, "w"), "w", "bad")  # failed: never stale

    # Frame 5 is pending: never stale, the feeder has yet to send it.
    assert [f.index for f in stale_frames(engine, JOB, T0 + 5.0)] == [0]
    assert [f.index for f in stale_frames(engine, JOB, T0 + 10.5)] == [0, 1, 4]
    assert stale_frames(engine, JOB, T0) == []
    (first, *_) = stale_frames(engine, JOB, T0 + 5.0)
    assert (first.i_start, first.i_end, first.t_start_us, first.t_end_us) == (0, 100, 0, 50_000)
    assert first.provider == "openai"


def test_iter_done_frames_streams_in_index_order(store: Store, engine: Engine) -> None:
    new_job(store, frames=6)
    for index in (4, 0, 5, 2):
        store.complete(claimed(store, index, "w"), "w", outcome(f"caption {index}"))
    store.fail(claimed(store, 3, "w"), "w", "bad")

    done = list(iter_done_frames(engine, JOB))

    assert [frame.index for frame in done] == [0, 2, 4, 5]
    assert [frame.caption for frame in done] == ["caption 0", "caption 2", "caption 4", "caption 5"]
    assert list(iter_done_frames(engine, "other")) == []


def test_frames_in_states_filters_and_orders(store: Store, engine: Engine) -> None:
    new_job(store, frames=5)
    store.fail(claimed(store, 3, "w"), "w", "bad")
    store.fail(claimed(store, 1, "w"), "w", "bad")

    failed = frames_in_states(engine, JOB, [FrameState.failed.value])

    assert [frame.index for frame in failed] == [1, 3]
    assert [frame.index for frame in frames_in_states(engine, JOB, ["pending"])] == [0, 2, 4]


# --- races -------------------------------------------------------------------------------------


def test_racing_claims_have_exactly_one_winner(store: Store, engine: Engine) -> None:
    new_job(store, frames=1)
    contenders = 8
    start = threading.Barrier(contenders)
    results: dict[str, ClaimedFrame | None] = {}
    errors: list[Exception] = []
    lock = threading.Lock()

    def race(worker: str) -> None:
        try:
            start.wait(timeout=30)
            won = claim(store, 0, worker)
        except Exception as exc:  # reported below, not swallowed
            with lock:
                errors.append(exc)
            return
        with lock:
            results[worker] = won

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(results) == contenders
    winners = [worker for worker, won in results.items() if won is not None]
    assert len(winners) == 1
    stored = row(engine, 0)
    assert (stored.state, stored.lease_owner, stored.attempts) == ("running", winners[0], 1)
