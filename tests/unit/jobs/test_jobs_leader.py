"""One feeder at a time: the lease in a real Redis, and the loop that feeds while holding it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import redis

from labeller.errors import LimiterUnavailable, StoreError
from labeller.jobs.feeder import Feeder, FeedRound, run_feeder
from labeller.jobs.leader import Leadership
from labeller.routing import RedisBackend
from tests.conftest import WaitUntil


@pytest.fixture
def key(key_prefix: str) -> str:
    return f"{key_prefix}:feeder"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# --- Leadership --------------------------------------------------------------------------------


def test_the_first_holder_gets_the_lease_and_the_second_does_not(
    backend: RedisBackend, key: str
) -> None:
    first, second = Leadership(backend, key, 60.0), Leadership(backend, key, 60.0)

    assert first.hold() is True
    assert second.hold() is False
    assert first.hold() is True
    assert second.hold() is False


def test_holding_again_renews_the_ttl(backend: RedisBackend, key: str, client: redis.Redis) -> None:
    holder = Leadership(backend, key, 60.0)
    assert holder.hold() is True
    assert 59_000 < client.pttl(key) <= 60_000
    client.pexpire(key, 500)  # as if most of the ttl had gone by

    assert holder.hold() is True

    assert client.pttl(key) > 59_000


def test_after_release_the_second_gets_it(backend: RedisBackend, key: str) -> None:
    first, second = Leadership(backend, key, 60.0), Leadership(backend, key, 60.0)
    assert first.hold() is True

    second.release()  # not the holder: changes nothing
    assert second.hold() is False
    first.release()

    assert second.hold() is True
    assert first.hold() is False


def test_after_the_ttl_lapses_the_second_gets_it(
    backend: RedisBackend, key: str, wait_until: WaitUntil
) -> None:
    first, second = Leadership(backend, key, 0.2), Leadership(backend, key, 0.2)
    assert first.hold() is True
    assert second.hold() is False

    wait_until(second.hold, timeout_s=5.0, message="the first holder's lease to lapse")

    assert first.hold() is False


def test_an_unreachable_redis_raises_limiter_unavailable() -> None:
    backend = RedisBackend.from_url("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(LimiterUnavailable):
            Leadership(backend, "labeller-test:feeder", 1.0).hold()
    finally:
        backend.close()


# --- run_feeder --------------------------------------------------------------------------------


class ScriptedFeeder(Feeder):
    """Plays `outcomes` one round each (an exception is raised), then sets `stop`."""

    def __init__(self, outcomes: list[Exception | None], stop: threading.Event) -> None:
        self.outcomes = outcomes
        self.stop = stop
        self.rounds = 0
        self.fed = threading.Event()

    def feed_once(self) -> FeedRound:
        self.rounds += 1
        self.fed.set()
        if self.rounds >= len(self.outcomes):
            self.stop.set()
        if self.rounds > len(self.outcomes):
            return FeedRound()
        outcome = self.outcomes[self.rounds - 1]
        if outcome is not None:
            raise outcome
        return FeedRound(published=1)


class FakeLease:
    """A LeaseBackend that another process always holds; counts the calls."""

    def __init__(self, stop: threading.Event, stop_after: int) -> None:
        self.stop = stop
        self.stop_after = stop_after
        self.holds = 0
        self.releases = 0

    def hold_lease(self, key: str, token: str, ttl_ms: int) -> bool:
        self.holds += 1
        if self.holds >= self.stop_after:
            self.stop.set()
        return False

    def release_lease(self, key: str, token: str) -> None:
        self.releases += 1


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "labeller.jobs.feeder" and record.levelno == logging.WARNING
    ]


def test_one_warning_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    down = StoreError("database: listing jobs to feed failed: connection refused")
    feeder = ScriptedFeeder([down, down, None, down, down, down, None], stop)

    with caplog.at_level(logging.WARNING, logger="labeller.jobs.feeder"):
        run_feeder(feeder, None, stop, 0.0)

    assert feeder.rounds == 7
    assert (
        warnings_of(caplog)
        == ["feeder: database: listing jobs to feed failed: connection refused; retrying every 0 s"]
        * 2
    )


def test_an_outage_then_recovery_logs_exactly_once(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    down = StoreError("database: down")
    feeder = ScriptedFeeder([down, down, None], stop)

    with caplog.at_level(logging.WARNING, logger="labeller.jobs.feeder"):
        run_feeder(feeder, None, stop, 0.0)

    assert feeder.rounds == 3
    assert len(warnings_of(caplog)) == 1


def test_run_feeder_returns_at_once_when_stop_is_set() -> None:
    stop = threading.Event()
    stop.set()
    feeder = ScriptedFeeder([None], stop)

    run_feeder(feeder, None, stop, 60.0)

    assert feeder.rounds == 0


def test_setting_stop_ends_the_wait_between_rounds() -> None:
    stop = threading.Event()
    feeder = ScriptedFeeder([None] * 1000, stop)
    thread = threading.Thread(target=run_feeder, args=(feeder, None, stop, 60.0))
    thread.start()
    assert feeder.fed.wait(timeout=10.0)

    stop.set()
    thread.join(timeout=10.0)

    assert not thread.is_alive()
    assert feeder.rounds == 1


def test_a_feeder_without_the_lease_does_not_feed_and_releases_on_exit() -> None:
    stop = threading.Event()
    lease = FakeLease(stop, stop_after=3)
    feeder = ScriptedFeeder([None], stop)

    run_feeder(feeder, Leadership(lease, "labeller:feeder", 10.0), stop, 0.0)

    assert (feeder.rounds, lease.holds, lease.releases) == (0, 3, 1)


def test_the_holder_feeds_and_gives_the_lease_back(
    backend: RedisBackend, key: str, client: redis.Redis
) -> None:
    stop = threading.Event()
    feeder = ScriptedFeeder([None, None], stop)

    run_feeder(feeder, Leadership(backend, key, 60.0), stop, 0.0)

    assert feeder.rounds == 2
    assert client.exists(key) == 0
    assert Leadership(backend, key, 60.0).hold() is True


def test_the_feeder_outlives_an_error_that_is_not_ours(caplog: pytest.LogCaptureFixture) -> None:
    """A broker's own exception (e.g. amqp's ConnectionForced on a RabbitMQ restart) must not
    end the thread: the next round tries again."""
    stop = threading.Event()
    feeder = ScriptedFeeder([ConnectionResetError("broker restarted"), None], stop)

    with caplog.at_level(logging.WARNING, logger="labeller.jobs.feeder"):
        run_feeder(feeder, None, stop, 0.0)

    assert feeder.rounds == 2
    assert warnings_of(caplog) == [
        "feeder: ConnectionResetError('broker restarted'); retrying every 0 s"
    ]
