"""The feeder on a real database with a recording publisher: depth, top-ups, sweeps, finishing.

The publisher is a fake (the job layer's seam to the broker); the integration and chaos tests
publish to real brokers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from labeller.config import (
    BinningSettings,
    FeederSettings,
    JobSpec,
    KeySettings,
    ProviderSettings,
    RecordingSettings,
    RenderSettings,
)
from labeller.errors import BrokerUnavailable
from labeller.jobs.feeder import MAX_DEPTH, MIN_DEPTH, UNLIMITED_DEPTH, Feeder, queue_depth
from labeller.pipeline import FrameMessage
from labeller.store import FrameOutcome, Job, JobState, Store, get_job
from labeller.store.models import Frame
from tests.support import T0, FakeClock
from tests.unit.store.store_support import pending

JOB = "job0000000001"
OTHER = "job0000000002"
LEASE_S = 30.0


class RecordingPublisher:
    """Keeps every message it is given; can lose the broker's data or refuse to publish."""

    def __init__(self) -> None:
        self.published: list[FrameMessage] = []
        self.calls = 0
        self.lost = False
        #: Publish calls (counted from 1) from which on BrokerUnavailable is raised.
        self.fail_from: int | None = None

    def check(self) -> None:
        pass

    def publish(self, messages: Sequence[FrameMessage]) -> None:
        self.calls += 1
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise BrokerUnavailable("broker: connection refused")
        self.published.extend(messages)

    def messages_lost(self) -> bool:
        return self.lost

    def take(self) -> list[tuple[str, int, str]]:
        """(job, frame, provider) of what was published since the last `take`, then forget it."""
        sent = [(m.job, m.frame, m.provider) for m in self.published]
        self.published.clear()
        return sent


def provider(name: str = "openai", **limits: Any) -> ProviderSettings:
    if name == "gemini":
        return ProviderSettings(name=name, kind="gemini", model="gemini-model", **limits)
    return ProviderSettings(name=name, kind="openai", model=f"{name}-model", **limits)


def spec(*providers: ProviderSettings) -> JobSpec:
    return JobSpec(
        recording="/data/zurich_city_00_a.h5",
        recording_options=RecordingSettings(),
        binning=BinningSettings(),
        render=RenderSettings(),
        prompt="Describe the scene.",
        max_attempts=6,
        lease_s=LEASE_S,
        providers=list(providers) or [provider(queue_depth=5)],
    )


def new_job(
    store: Store,
    frames: int | list[dict[str, Any]],
    *,
    job_id: str = JOB,
    job_spec: JobSpec | None = None,
) -> int:
    rows = [pending(i) for i in range(frames)] if isinstance(frames, int) else frames
    job = Job(
        id=job_id,
        recording="/data/zurich_city_00_a.h5",
        spec=(job_spec or spec()).model_dump_json(),
        state=JobState.running.value,
        frame_count=0,
        simulated=False,
        created_at=store.clock(),
    )
    return store.create_job(job, rows)


def states(engine: Engine, job_id: str = JOB) -> list[str]:
    with engine.connect() as conn:
        found = conn.execute(
            select(Frame.state).where(Frame.job_id == job_id).order_by(Frame.index)
        )
        return [str(state) for (state,) in found]


def job_state(engine: Engine, job_id: str = JOB) -> str:
    job = get_job(engine, job_id)
    assert job is not None
    return job.state


def finish(store: Store, index: int, job_id: str = JOB, *, fail: bool = False) -> None:
    """A worker claims the frame and captions (or fails) it."""
    frame = store.claim(job_id, index, "openai", "w1", LEASE_S, 6)
    assert frame is not None, f"frame {index} of {job_id} cannot be claimed"
    if fail:
        assert store.fail(frame, "w1", "openai: HTTP 400: bad") is True
    else:
        outcome = FrameOutcome("openai", "openai-model", f"caption {index}", 112, 9, 0.00002)
        assert store.complete(frame, "w1", outcome) is True


def sent(
    job_id: str, frames: Sequence[int], provider: str = "openai"
) -> list[tuple[str, int, str]]:
    return [(job_id, index, provider) for index in frames]


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def feeder(store: Store, publisher: RecordingPublisher) -> Feeder:
    return Feeder(store, publisher, FeederSettings())


# --- queue depth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "settings", "depth"),
    [
        ({"queue_depth": 7, "rpm": 6000}, FeederSettings(queue_depth=300), 7),
        ({"rpm": 6000, "max_in_flight": 50}, FeederSettings(queue_depth=300), 300),
        ({"rpm": 6000}, FeederSettings(), 3000),
        ({"rpm": 10}, FeederSettings(), MIN_DEPTH),
        ({"rpm": 1_000_000}, FeederSettings(), MAX_DEPTH),
        ({"rpm": 600, "max_in_flight": 400}, FeederSettings(), 800),
        ({"rpm": 6000, "max_in_flight": 400}, FeederSettings(), 3000),
        ({"max_in_flight": 40}, FeederSettings(), 80),
        ({"max_in_flight": 2}, FeederSettings(), MIN_DEPTH),
        ({}, FeederSettings(), UNLIMITED_DEPTH),
        ({"keys": [KeySettings(env="K1", rpm=1000), KeySettings(env="K2", rpm=600)]}, None, 800),
        ({"keys": [KeySettings(env="K1", rpm=1000), KeySettings(env="K2")]}, None, 500),
        ({"keys": [KeySettings(env="K1"), KeySettings(env="K2")]}, None, UNLIMITED_DEPTH),
        ({"rpm": 100, "keys": [KeySettings(env="K1", rpm=9000)]}, None, 50),
    ],
)
def test_queue_depth_sizing(
    limits: dict[str, Any], settings: FeederSettings | None, depth: int
) -> None:
    assert queue_depth(provider(**limits), settings or FeederSettings()) == depth


# --- publishing up to the depth ---------------------------------------------------------------


def test_feed_once_publishes_up_to_the_queue_depth(
    store: Store, engine: Engine, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    new_job(store, 12)

    assert feeder.feed_once().published == 5

    assert publisher.published[0] == FrameMessage(JOB, 0, 0, 100, 0, 50_000, "openai")
    assert publisher.take() == sent(JOB, range(5))
    assert states(engine) == ["queued"] * 5 + ["pending"] * 7
    assert feeder.feed_once().published == 0
    assert publisher.take() == []


def test_each_provider_has_its_own_depth(
    store: Store, engine: Engine, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    frames = [{**pending(i), "provider": "gemini" if i % 2 else "openai"} for i in range(10)]
    job_spec = spec(provider("openai", queue_depth=3), provider("gemini", queue_depth=2))
    new_job(store, frames, job_spec=job_spec)

    round_ = feeder.feed_once()

    assert round_.published == 5
    assert sorted(publisher.take()) == sorted([*sent(JOB, [0, 2, 4]), *sent(JOB, [1, 3], "gemini")])


def test_outstanding_frames_count_across_jobs_oldest_first(
    store: Store, clock: FakeClock, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    job_spec = spec(provider(queue_depth=6))
    new_job(store, 4, job_spec=job_spec)
    clock.advance(1.0)
    new_job(store, 10, job_id=OTHER, job_spec=job_spec)

    assert feeder.feed_once().published == 6
    assert publisher.take() == [*sent(JOB, range(4)), *sent(OTHER, range(2))]

    assert feeder.feed_once().published == 0


def test_frames_taken_by_workers_make_room(
    store: Store, clock: FakeClock, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    new_job(store, 12)
    feeder.feed_once()
    publisher.take()
    finish(store, 0)
    finish(store, 1, fail=True)
    assert store.claim(JOB, 2, "openai", "w2", LEASE_S, 6) is not None  # running, no message
    clock.advance(1.0)

    assert feeder.feed_once().published == 3

    assert publisher.take() == sent(JOB, [5, 6, 7])


def test_a_failed_publish_gives_its_frames_back(
    store: Store, engine: Engine, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    new_job(store, 8)
    publisher.fail_from = 1

    with pytest.raises(BrokerUnavailable):
        feeder.feed_once()

    assert states(engine) == ["pending"] * 8
    publisher.fail_from = None
    assert feeder.feed_once().published == 5
    assert publisher.take() == sent(JOB, range(5))


def test_a_publish_failing_mid_round_keeps_the_batches_already_sent(
    store: Store,
    engine: Engine,
    feeder: Feeder,
    publisher: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("labeller.jobs.feeder.PUBLISH_BATCH", 2)
    new_job(store, 8)
    publisher.fail_from = 2

    with pytest.raises(BrokerUnavailable):
        feeder.feed_once()

    assert publisher.take() == sent(JOB, [0, 1])
    assert states(engine) == ["queued"] * 2 + ["pending"] * 6
    publisher.fail_from = None
    assert feeder.feed_once().published == 3
    assert publisher.take() == sent(JOB, [2, 3, 4])


# --- sweeping ----------------------------------------------------------------------------------


def test_a_frame_whose_lease_expired_goes_out_again(
    store: Store, engine: Engine, clock: FakeClock, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    new_job(store, 3)
    feeder.feed_once()
    publisher.take()
    assert store.claim(JOB, 1, "openai", "w1", LEASE_S, 6) is not None  # then the worker dies
    clock.advance(LEASE_S)

    nothing = feeder.feed_once()
    assert (nothing.expired, nothing.published) == (0, 0)
    clock.advance(0.5)
    round_ = feeder.feed_once()

    assert (round_.expired, round_.lost, round_.published) == (1, 0, 1)
    assert publisher.take() == sent(JOB, [1])
    assert states(engine) == ["queued"] * 3
    with engine.connect() as conn:
        attempts = conn.execute(
            select(Frame.attempts).where(Frame.job_id == JOB, Frame.index == 1)
        ).scalar_one()
    assert attempts == 1


def test_a_broker_that_lost_its_data_gets_every_queued_frame_again(
    store: Store, clock: FakeClock, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    new_job(store, 8)
    feeder.feed_once()
    publisher.take()
    assert store.claim(JOB, 1, "openai", "w1", LEASE_S, 6) is not None
    clock.advance(1.0)

    quiet = feeder.feed_once()
    assert (quiet.lost, quiet.published) == (0, 1)  # frame 5 fills the slot of the running one
    assert publisher.take() == sent(JOB, [5])

    publisher.lost = True
    round_ = feeder.feed_once()

    assert (round_.lost, round_.expired, round_.published) == (5, 0, 5)
    assert publisher.take() == sent(JOB, [0, 2, 3, 4, 5])


def test_only_frames_queued_longer_than_lost_after_are_presumed_lost(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    feeder = Feeder(store, publisher, FeederSettings(lost_after_s=60.0))
    new_job(store, 4, job_spec=spec(provider(queue_depth=2)))
    feeder.feed_once()  # frames 0, 1 queued at T0
    clock.advance(40.0)
    finish(store, 0)
    assert feeder.feed_once().published == 1  # frame 2 queued at T0 + 40
    publisher.take()
    clock.advance(20.0)

    assert feeder.feed_once().lost == 0  # frame 1 queued exactly 60 s ago
    clock.advance(0.5)
    round_ = feeder.feed_once()

    assert (round_.lost, round_.published) == (1, 1)
    assert publisher.take() == sent(JOB, [1])
    assert states(engine) == ["done", "queued", "queued", "pending"]


# --- which jobs are fed, and finishing ---------------------------------------------------------


def test_a_job_with_no_open_frame_is_finished(
    store: Store, engine: Engine, clock: FakeClock, feeder: Feeder
) -> None:
    new_job(store, 2)
    new_job(store, 2, job_id=OTHER)
    feeder.feed_once()
    finish(store, 0)
    finish(store, 1, fail=True)
    finish(store, 0, OTHER)
    finish(store, 1, OTHER)
    clock.advance(3.0)

    round_ = feeder.feed_once()

    assert round_.finished == {JOB: JobState.failed.value, OTHER: JobState.done.value}
    assert (job_state(engine), job_state(engine, OTHER)) == ("failed", "done")
    job = get_job(engine, OTHER)
    assert job is not None and job.finished_at == T0 + 3.0
    assert feeder.feed_once().finished == {}


def test_a_job_with_frames_in_flight_is_not_finished(
    store: Store, engine: Engine, feeder: Feeder
) -> None:
    new_job(store, 2)
    feeder.feed_once()
    finish(store, 0)
    assert store.claim(JOB, 1, "openai", "w1", LEASE_S, 6) is not None

    assert feeder.feed_once().finished == {}

    assert job_state(engine) == JobState.running.value


def test_paused_and_cancelled_jobs_are_not_fed(
    store: Store, engine: Engine, clock: FakeClock, feeder: Feeder, publisher: RecordingPublisher
) -> None:
    new_job(store, 3)
    clock.advance(1.0)
    new_job(store, 3, job_id=OTHER)
    assert store.pause_job(JOB, "spend reached the budget") is True
    store.cancel_job(OTHER)

    round_ = feeder.feed_once()

    assert (round_.published, round_.finished) == (0, {})
    assert publisher.take() == []
    assert states(engine) == ["pending"] * 3
    assert (job_state(engine), job_state(engine, OTHER)) == ("paused", "cancelled")
    assert store.resume_job(JOB) is True
    assert feeder.feed_once().published == 3
    assert publisher.take() == sent(JOB, range(3))


def test_a_planning_job_is_fed_while_its_frames_are_written(
    store: Store,
    engine: Engine,
    feeder: Feeder,
    publisher: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("labeller.store.store.INSERT_BATCH", 3)
    rounds: list[tuple[int, str, list[tuple[str, int, str]], dict[str, str]]] = []

    def on_batch(count: int) -> None:
        round_ = feeder.feed_once()
        rounds.append((count, job_state(engine), publisher.take(), round_.finished))

    job = Job(
        id=JOB,
        recording="/data/zurich_city_00_a.h5",
        spec=spec().model_dump_json(),
        state=JobState.running.value,
        frame_count=0,
        simulated=False,
        created_at=T0,
    )
    assert store.create_job(job, (pending(i) for i in range(7)), on_batch=on_batch) == 7

    assert rounds == [
        (3, "planning", sent(JOB, [0, 1, 2]), {}),
        (6, "planning", sent(JOB, [3, 4]), {}),
        (7, "planning", [], {}),
    ]
    assert job_state(engine) == JobState.running.value


def test_a_planning_job_whose_written_frames_all_ended_is_not_reported_finished(
    store: Store, engine: Engine, feeder: Feeder
) -> None:
    quiet = [{**pending(i), "state": "skipped", "error": "fewer than 50 events"} for i in range(3)]
    new_job(store, quiet)
    with engine.begin() as conn:  # more frames are still being planned
        conn.execute(update(Job).where(Job.id == JOB).values(state=JobState.planning.value))

    round_ = feeder.feed_once()

    assert job_state(engine) == JobState.planning.value
    assert round_.finished == {}
