"""RabbitMQ as the Celery broker: a whole job, a worker killed mid-job, a broker that is away.

Redis stays the rate limiter's store (`redis_url`), the database is the `database_url` fixture.
A RabbitMQ server is shared by every test run pointed at it, and queues are named after
providers (`vlm.<provider>`), so each test names its providers uniquely and deletes their queues
and exchanges at teardown. Set LABELLER_TEST_RABBITMQ_URL (CI does) or these cases skip.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import Engine, func, select

from labeller.config import load_settings
from labeller.errors import BrokerUnavailable
from labeller.jobs import create_job, requeue_pending
from labeller.local import LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Store, make_engine, upgrade
from workers import make_publisher

WaitUntil = Callable[..., None]

#: Celery's log line for a message a worker took off a queue (`--loglevel INFO`).
RECEIVED = re.compile(r"Task label_frame\[([0-9a-f-]{36})\] received")
#: ... and for one whose task ended, whatever its outcome.
ENDED = re.compile(r"Task label_frame\[([0-9a-f-]{36})\] (?:succeeded|failed|retry)")
#: The jobs below test the broker, not the database (every other job test runs on both): one
#: database each, PostgreSQL where the suite has one, as in production beside RabbitMQ.
ONE_DATABASE = pytest.mark.parametrize(
    "database_url",
    ["postgresql" if os.environ.get("LABELLER_TEST_DATABASE_URL") else "sqlite"],
    indirect=True,
)


@pytest.fixture
def rabbitmq_url() -> str:
    url = os.environ.get("LABELLER_TEST_RABBITMQ_URL")
    if not url:
        pytest.skip(
            "RabbitMQ case: set LABELLER_TEST_RABBITMQ_URL (e.g. amqp://guest:guest@host//)"
        )
    return url


@pytest.fixture
def providers(rabbitmq_url: str) -> Iterator[list[str]]:
    """Two provider names of this test only; their queues and exchanges go at teardown."""
    token = uuid.uuid4().hex[:10]
    names = [f"p{token}a", f"p{token}b"]
    yield names
    with Connection(rabbitmq_url, connect_timeout=5) as connection:
        for name in (f"vlm.{n}" for n in names):
            # One channel per delete: a failed delete closes its channel.
            for entity in (Queue(name, no_declare=True), Exchange(name, no_declare=True)):
                try:
                    entity.bind(connection.channel()).delete()
                except connection.channel_errors:
                    pass


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    profile = {"latency_ms": 150, "latency_jitter_ms": 50}
    config = SimulatorConfig.model_validate({"seed": 11, "default": profile})
    with SimulatorServer(config) as server:
        yield server


class Job:
    """A simulated job over RabbitMQ: its settings in the environment, its database, its audit."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        frames: int,
        providers: list[str],
        env: dict[str, str],
        extra: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.frames = frames
        config: dict[str, Any] = {
            "binning": {"window": "10ms", "keep_partial": True},
            "cache": {"exact": False, "near_duplicate_bits": None},
            "providers": [
                {
                    "name": name,
                    "model": f"sim-model-{n}",
                    "api_key_env": None,
                    "weight": 1.0,
                    # A call takes ~150 ms; a short timeout keeps a renewed lease (timeout + 5 s)
                    # short too, so a killed worker's frames come back in seconds, not a minute.
                    "timeout_s": 5.0,
                    "fallback": [other for other in providers if other != name],
                }
                for n, name in enumerate(providers)
            ],
            **extra,
        }
        config_path = tmp_path / "labeller.yaml"
        config_path.write_text(json.dumps(config))
        self.env = {**env, "LABELLER_CONFIG": str(config_path)}
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        self.settings = load_settings()
        self.queues = [f"vlm.{name}" for name in providers]
        self.recording = tmp_path / "rec.h5"
        write_sample(self.recording, duration_s=frames / 100, width=240, height=180, rate_hz=1e5)
        self.engine: Engine = make_engine(self.env["LABELLER_DATABASE_URL"])
        upgrade(self.engine)
        self.store = Store(self.engine, time.time)
        self.job_id = ""

    def create_and_publish(self) -> None:
        """The job's frames, published to RabbitMQ unless a feeder in the workers got there."""
        with open_recording(self.recording, self.settings.recording) as opened:
            self.job_id = create_job(self.store, self.settings, opened, simulated=True)
        publisher = make_publisher(self.settings)
        try:
            publisher.check()
            # 0 when the feeder inside the workers has published them already; fine either way.
            assert requeue_pending(self.store, publisher, self.job_id) <= self.frames
        finally:
            publisher.close()

    def count(self, *states: FrameState) -> int:
        with self.engine.connect() as conn:
            found = conn.scalar(
                select(func.count()).where(
                    Frame.job_id == self.job_id, Frame.state.in_([s.value for s in states])
                )
            )
        return int(found or 0)

    def ended(self) -> bool:
        return self.count(FrameState.done, FrameState.failed) == self.frames

    def assert_each_frame_done_once(self) -> None:
        with self.engine.connect() as conn:
            states = dict(
                conn.execute(
                    select(Frame.state, func.count())
                    .where(Frame.job_id == self.job_id)
                    .group_by(Frame.state)
                ).all()
            )
            captions = conn.scalar(
                select(func.count()).where(
                    Frame.job_id == self.job_id,
                    Frame.caption.startswith("Simulated caption:"),
                )
            )
            ok_per_frame = dict(
                conn.execute(
                    select(Attempt.frame_index, func.count())
                    .where(Attempt.job_id == self.job_id, Attempt.status == AttemptStatus.ok.value)
                    .group_by(Attempt.frame_index)
                ).all()
            )
        assert states == {FrameState.done.value: self.frames}
        assert captions == self.frames
        # One successful call per frame: nothing captioned, nor billed, twice.
        assert sorted(ok_per_frame) == list(range(self.frames))
        assert set(ok_per_frame.values()) == {1}

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def make_job(
    tmp_path: Path,
    rabbitmq_url: str,
    redis_url: str,
    key_prefix: str,
    database_url: str,
    simulator: SimulatorServer,
    providers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Job]]:
    env = {
        "LABELLER_BROKER_URL": rabbitmq_url,
        # The rate limiter needs Redis whatever the broker.
        "LABELLER_REDIS_URL": redis_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_DATABASE_URL": database_url,
        "LABELLER_SIMULATOR_URL": simulator.url,
    }
    made: list[Job] = []

    def make(frames: int, **extra: Any) -> Job:
        job = Job(
            tmp_path, frames=frames, providers=providers, env=env, extra=extra,
            monkeypatch=monkeypatch,
        )  # fmt: skip
        made.append(job)
        return job

    yield make
    for job in made:
        job.close()


def _task_ids(log: Path, pattern: re.Pattern[str]) -> set[str]:
    return set(pattern.findall(log.read_text(errors="replace"))) if log.exists() else set()


@ONE_DATABASE
def test_job_end_to_end_on_rabbitmq(
    tmp_path: Path, make_job: Callable[..., Job], wait_until: WaitUntil
) -> None:
    job = make_job(120)
    with LocalWorkers(
        2, queues=job.queues, concurrency=4, env=job.env, log_dir=tmp_path / "logs"
    ) as workers:
        job.create_and_publish()
        wait_until(job.ended, timeout_s=120, message="every frame to end")
        assert workers.alive()
    job.assert_each_frame_done_once()


@ONE_DATABASE
def test_worker_killed_mid_job_is_redelivered_and_harmless(
    tmp_path: Path, make_job: Callable[..., Job], wait_until: WaitUntil
) -> None:
    # A short lease: frames the dead worker held are free again (and swept back) in seconds.
    job = make_job(200, lease_s=3)
    logs = tmp_path / "logs"
    victim_log, survivor_log = logs / "worker-1.log", logs / "worker-2.log"
    with LocalWorkers(2, queues=job.queues, concurrency=4, env=job.env, log_dir=logs) as workers:
        job.create_and_publish()

        def victim_busy() -> bool:
            busy = _task_ids(victim_log, RECEIVED) - _task_ids(victim_log, ENDED)
            return bool(busy) and job.count(FrameState.done) >= 20

        wait_until(victim_busy, timeout_s=60, message="worker 1 to hold tasks, 20 frames done")
        victim = workers.processes[0]
        victim.kill()  # SIGKILL: no shutdown, no ack, no requeue by Celery itself
        victim.wait(10)
        in_flight = _task_ids(victim_log, RECEIVED) - _task_ids(victim_log, ENDED)
        assert in_flight
        # RabbitMQ requeues a dead connection's unacked messages at once; the survivor gets them.
        wait_until(
            lambda: in_flight <= _task_ids(survivor_log, RECEIVED),
            timeout_s=30,
            message=f"worker 2 to receive the {len(in_flight)} messages worker 1 held",
        )
        # The dead worker's claims lapse after lease_s; the sweeper gives such frames back.
        wait_until(job.ended, timeout_s=120, message="every frame to end after the kill")
        assert workers.processes[1].poll() is None
    job.assert_each_frame_done_once()


def test_check_names_the_broker_not_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELLER_CONFIG", raising=False)
    monkeypatch.setenv("LABELLER_BROKER_URL", "amqp://guest:sekrit-pw@127.0.0.1:1//")
    monkeypatch.setenv("LABELLER_REDIS_URL", "redis://127.0.0.1:1/0")
    publisher = make_publisher(load_settings())
    try:
        with pytest.raises(BrokerUnavailable) as caught:
            publisher.check()
    finally:
        publisher.close()
    message = str(caught.value)
    assert "amqp://127.0.0.1:1" in message
    assert "sekrit-pw" not in message
    assert "sekrit-pw" not in repr(caught.value.__cause__)
