"""Provider and operator faults around a running job: a provider down all along, a 429 storm on
every key, the starting command killed, two feeders racing, a cancel mid-job.

Each test ends with the cluster's audit (`tests/chaos/harness.py`): frames end done once (or
failed with a reason, or cancelled), and a done frame is billed once.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from pydantic import PrivateAttr
from sqlalchemy import Row, select

from labeller.jobs import Feeder, create_job
from labeller.pipeline import FrameMessage
from labeller.recordings import open_recording, write_sample
from labeller.routing import BreakerState, Limiter, RedisBackend, RouteLimits
from labeller.simulator import ModelProfile, SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Job, Store, make_engine
from tests.chaos.conftest import Broker, two_providers
from tests.chaos.harness import Cluster, WaitUntil, cluster
from workers import make_publisher
from workers.publisher import CeleryPublisher

#: The `labeller` command, as tests/integration/test_cli.py runs it.
LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]
WORKERS, THREADS = 2, 4


def _start_workers(c: Cluster, **env: str) -> None:
    for n in range(WORKERS):
        c.start_worker(f"w{n}", concurrency=THREADS, env=env)


def _attempts(c: Cluster, job: str) -> Sequence[Row[int, str, str | None, str, int | None, float]]:
    with c.engine.connect() as conn:
        return conn.execute(
            select(
                Attempt.frame_index,
                Attempt.provider,
                Attempt.key_alias,
                Attempt.status,
                Attempt.http_status,
                Attempt.started_at,
            ).where(Attempt.job_id == job)
        ).all()


def _frames(c: Cluster, job: str) -> Sequence[Row[int, str, str, int]]:
    with c.engine.connect() as conn:
        return conn.execute(
            select(Frame.index, Frame.state, Frame.provider, Frame.attempts).where(
                Frame.job_id == job
            )
        ).all()


def _failed(c: Cluster, job: str) -> dict[int, str | None]:
    """Failed frames and why: what the audit's state counts leave out."""
    with c.engine.connect() as conn:
        rows = conn.execute(
            select(Frame.index, Frame.error).where(
                Frame.job_id == job, Frame.state == FrameState.failed.value
            )
        ).all()
    return {int(index): error for index, error in rows}


def _recording(c: Cluster, frames: int) -> Path:
    """A sample recording of `frames` 10 ms windows (the cluster's binning)."""
    path = c.workdir / "rec.h5"
    write_sample(path, duration_s=frames / 100, width=240, height=180, rate_hz=1e5, seed=1)
    return path


# --- 1. one provider down all along ----------------------------------------------------------

DOWN_FRAMES = 40
BREAKER_FAILURES = 3


def _closed_port() -> int:
    """A local port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("outage", ["answers_500", "port_closed"])
def test_one_provider_down_for_the_whole_job(
    tmp_path: Path, outage: str, database_url: str, key_prefix: str, redis_url: str,
    wait_until: WaitUntil,
) -> None:  # fmt: skip
    """`down` fails every call (a 500 from the simulator, or nothing listening at its URL):
    its breaker opens after BREAKER_FAILURES calls, and `up` captions every frame through
    fallback; no frame fails, and `down` is called only until its breaker opens."""
    # A simulated job calls the simulator whatever `base_url` says, so the closed port is a
    # real job with a key the simulator accepts.
    simulated = outage == "answers_500"
    down: dict[str, object] = {"name": "down", "model": "sim-down", "fallback": ["up"]}
    up: dict[str, object] = {"name": "up", "model": "sim-up", "fallback": ["down"]}
    for provider in (down, up):
        provider["api_key_env"] = None if simulated else "LABELLER_CHAOS_KEY"
    if not simulated:
        down["base_url"] = f"http://127.0.0.1:{_closed_port()}/v1"
    with cluster(
        tmp_path,
        broker_url=redis_url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        simulator={
            "seed": 3,
            "default": {"latency_ms": 50, "latency_jitter_ms": 20},
            "models": {"sim-down": {"latency_ms": 20, "fault_rate": 1.0}},
        },
        providers=[down, up],
        # Open long enough that no half-open probe goes out during the job.
        settings={"routing": {"breaker_failures": BREAKER_FAILURES, "breaker_open_s": 300}},
        secrets={"LABELLER_CHAOS_KEY": "sk-chaos-test"},
    ) as c:
        _start_workers(c)
        if simulated:
            job = c.create_job(DOWN_FRAMES)
        else:
            with open_recording(_recording(c, DOWN_FRAMES), c.settings.recording) as opened:
                job = create_job(c.store, c.settings, opened, simulated=False)
        wait_until(lambda: c.job_state(job) != "running", 120, "the job to end")
        assert _failed(c, job) == {}
        c.audit(job).assert_clean()
        assert c.job_state(job) == "done"
        assert {provider for _, _, provider, _ in _frames(c, job)} == {"up"}
        calls = Counter((a.provider, a.status) for a in _attempts(c, job))
        assert calls[("up", AttemptStatus.ok.value)] == DOWN_FRAMES
        to_down = sum(n for (provider, _), n in calls.items() if provider == "down")
        assert calls[("down", AttemptStatus.transient.value)] == to_down, calls
        # Half the frames were routed to `down`; it was called until its breaker opened, plus
        # the calls already in flight then (at most one per other worker thread).
        assert BREAKER_FAILURES <= to_down <= BREAKER_FAILURES + WORKERS * THREADS - 1, calls
        backend = RedisBackend.from_url(redis_url)
        try:
            limiter = Limiter(backend, key_prefix, routing=c.settings.routing)
            state = limiter.snapshot(RouteLimits.from_settings(c.settings.provider("down")))
        finally:
            backend.close()
        breaker = state["breaker"]
        assert isinstance(breaker, dict) and breaker["state"] == BreakerState.OPEN.value, state


# --- 2. a 429 storm on every key -------------------------------------------------------------

STORM_FRAMES = 24
#: Two keys per provider, all refused alike. A key answers one probe per Retry-After (1 s) while
#: it cools down, so the storm reaches every frame in about STORM_FRAMES / 4 seconds.
STORM_KEYS = ("LABELLER_CHAOS_KEY_1", "LABELLER_CHAOS_KEY_2")
#: What every model answers while the storm rages: 429 (Retry-After: 1 s), at once.
STORM = ModelProfile(latency_ms=0, latency_jitter_ms=0, rate_limit_rate=1.0)


class _StormySimulator(SimulatorConfig):
    """The configured profiles, except that every model answers 429 while `storm` is set."""

    _storm: threading.Event = PrivateAttr(default_factory=threading.Event)

    @property
    def storm(self) -> threading.Event:
        return self._storm

    def profile(self, model: str) -> ModelProfile:
        return STORM if self._storm.is_set() else super().profile(model)


def _serve_instead(c: Cluster, config: SimulatorConfig) -> None:
    """Serve `config` on the cluster's simulator port, before any worker has called it."""
    port = int(c.simulator.url.rsplit(":", 1)[1])
    c.simulator.stop()
    c.simulator = SimulatorServer(config, port=port)
    c.simulator.start()


def test_a_429_storm_on_every_key(
    tmp_path: Path, database_url: str, key_prefix: str, redis_url: str, wait_until: WaitUntil
) -> None:
    """Every key of both providers answers 429 until every frame has met a 429, then the storm
    ends. With `max_attempts: 1`, a 429 that used up an attempt would fail its frame at its
    next claim: none does, every 429 is on record, and the job ends done."""
    with cluster(
        tmp_path,
        broker_url=redis_url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        providers=[
            {
                "name": name,
                "model": f"sim-{name}",
                "keys": [{"env": env} for env in STORM_KEYS],
                "fallback": [other],
            }
            for name, other in (("sima", "simb"), ("simb", "sima"))
        ],
        settings={"max_attempts": 1},
    ) as c:
        simulator = _StormySimulator.model_validate(
            {"seed": 4, "default": {"latency_ms": 100, "latency_jitter_ms": 30}}
        )
        _serve_instead(c, simulator)
        simulator.storm.set()
        _start_workers(c)
        job = c.create_job(STORM_FRAMES)

        def limited_frames() -> set[int]:
            return {
                a.frame_index
                for a in _attempts(c, job)
                if a.status == AttemptStatus.rate_limited.value
            }

        wait_until(lambda: len(limited_frames()) == STORM_FRAMES, 90, "every frame to meet a 429")
        assert _failed(c, job) == {}
        assert c.count(job, FrameState.done) == 0
        simulator.storm.clear()
        wait_until(lambda: c.job_state(job) != "running", 90, "the job to end after the storm")
        assert _failed(c, job) == {}
        c.audit(job).assert_clean()
        assert c.job_state(job) == "done"
        # A 429 is refunded: each frame counts one call, its successful one.
        assert {attempts for _, _, _, attempts in _frames(c, job)} == {1}
        attempts = _attempts(c, job)
        limited = [a for a in attempts if a.status == AttemptStatus.rate_limited.value]
        assert {a.http_status for a in limited} == {429}
        refused = {(a.provider, a.key_alias) for a in limited}
        assert refused == {(p, k) for p in ("sima", "simb") for k in STORM_KEYS}, refused
        assert len(attempts) == len(limited) + STORM_FRAMES
        # Every 429 the simulator sent is an Attempt row.
        stats = httpx.get(f"{c.simulator.url}/stats", timeout=10).json()
        assert stats["totals"]["rate_limited"] == len(limited)
        assert stats["totals"]["accepted"] == STORM_FRAMES


# --- 3. the command that started a detached job is killed ------------------------------------

DETACHED_FRAMES = 40


def test_cli_killed_right_after_it_started_a_detached_job(
    tmp_path: Path, broker: Broker, database_url: str, key_prefix: str, redis_url: str,
    wait_until: WaitUntil,
) -> None:  # fmt: skip
    """`labeller run --detach` is SIGKILLed as soon as its job is running: the workers' feeder
    publishes every frame and finishes the job without it."""
    with cluster(
        tmp_path,
        broker_url=broker.url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        providers=two_providers(broker.providers),
    ) as c:
        _start_workers(c)
        recording = _recording(c, DETACHED_FRAMES)
        command = [*LABELLER, "run", str(recording), "--detach", "--workers", "0", "--simulate"]
        with (tmp_path / "cli.log").open("wb") as log:
            cli = subprocess.Popen(
                [*command, "--broker-url", broker.url],
                cwd=tmp_path,
                env=c.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:

                def running_job() -> str | None:
                    with c.engine.connect() as conn:
                        return conn.scalar(select(Job.id).where(Job.state == "running"))

                wait_until(
                    lambda: running_job() is not None or cli.poll() is not None,
                    120,
                    "the command to start its job",
                )
                cli.send_signal(signal.SIGKILL)
            finally:
                cli.kill()
                cli.wait(30)
        job = running_job()
        output = (tmp_path / "cli.log").read_text(errors="replace")
        assert job is not None, output
        assert cli.returncode in (-signal.SIGKILL, 0), output
        assert c.frame_count(job) == DETACHED_FRAMES
        wait_until(lambda: c.job_state(job) != "running", 120, "the workers to finish the job")
        c.audit(job).assert_clean()
        assert c.job_state(job) == "done"


# --- 4. two feeders at once ------------------------------------------------------------------

RACE_FRAMES = 80
#: Between two rounds of one feeder: short enough that rounds overlap all the time, long
#: enough to leave the simulator (in this process too) its share of the GIL.
PAUSE_S = 0.005


class _NotingPublisher:
    """A publisher that notes the index of every frame it sends."""

    def __init__(self, inner: CeleryPublisher) -> None:
        self.inner = inner
        self.sent: list[int] = []

    def check(self) -> None:
        self.inner.check()

    def publish(self, messages: Sequence[FrameMessage]) -> None:
        self.inner.publish(messages)
        self.sent.extend(m.frame for m in messages)

    def messages_lost(self) -> bool:
        return self.inner.messages_lost()


def test_two_feeders_at_once(
    tmp_path: Path, broker: Broker, database_url: str, key_prefix: str, redis_url: str,
    wait_until: WaitUntil,
) -> None:  # fmt: skip
    """Two feeders without the leadership lease, each with its own engine and broker
    connection, feed one job in tight loops: they share the frames, none is published twice
    (taking frames is one conditional UPDATE), and the job ends done."""
    with cluster(
        tmp_path,
        broker_url=broker.url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        providers=two_providers(broker.providers),
        # Leases and presumed-lost messages never expire here: a frame sent twice is the race's.
        # A shallow queue makes the feeders publish a few frames at a time, many times over.
        settings={
            "lease_s": 60.0,
            "feeder": {"interval_s": 0.2, "lost_after_s": 600.0, "queue_depth": 4},
        },
    ) as c:
        _start_workers(c, LABELLER_FEEDER__ENABLED="false")
        stores = [Store(make_engine(database_url), time.time) for _ in range(2)]
        publishers = [_NotingPublisher(make_publisher(c.settings)) for _ in range(2)]
        # On a Redis broker, the first look at it ever reads as "it lost its data" (its marker
        # key is not there yet) and sends every queued frame again: take that look now.
        publishers[0].messages_lost()
        feeders = [Feeder(s, p, c.settings.feeder) for s, p in zip(stores, publishers, strict=True)]
        stop = threading.Event()
        errors: list[BaseException] = []
        finished_by: list[int] = []

        def feed(n: int) -> None:
            try:
                while not stop.wait(PAUSE_S):
                    if feeders[n].feed_once().finished:
                        finished_by.append(n)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        threads = [threading.Thread(target=feed, args=(n,), daemon=True) for n in range(2)]
        try:
            job = c.create_job(RACE_FRAMES)
            for thread in threads:
                thread.start()
            wait_until(lambda: c.job_state(job) != "running" or bool(errors), 120, "the job to end")
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
            for publisher in publishers:
                publisher.inner.close()
            for store in stores:
                store.engine.dispose()
        assert errors == []
        c.audit(job).assert_clean()
        assert c.job_state(job) == "done"
        assert finished_by, "no feeder finished the job"
        first, second = (set(p.sent) for p in publishers)
        assert first and second, "one feeder did all the work: no race happened"
        assert first.isdisjoint(second)
        sent = Counter(publishers[0].sent + publishers[1].sent)
        assert sent == Counter(range(RACE_FRAMES)), [i for i, n in sent.items() if n > 1]


# --- 5. cancel mid-job -----------------------------------------------------------------------

CANCEL_FRAMES = 200
#: Calls each provider takes at once: the other worker threads hold claimed frames while they
#: wait for a slot, as they do in front of a busy local model server.
IN_FLIGHT = 1
#: After the cancel, time for every call that was in flight to end, and for a stray one to show.
SETTLE_S = 3.0
#: The cancel's time is read before its UPDATE commits: a call a worker started in between is
#: one that was already going out.
CANCEL_SLACK_S = 0.1


def test_cancel_stops_a_running_job(
    tmp_path: Path, database_url: str, key_prefix: str, redis_url: str, wait_until: WaitUntil
) -> None:
    """`labeller cancel` mid-job: the job and every frame not yet done end `cancelled`, no call
    starts after the cancel (not even for a frame a worker claimed before it and is waiting to
    send), no frame becomes done after it, and done frames are billed once."""
    with cluster(
        tmp_path,
        broker_url=redis_url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        simulator={"seed": 6, "default": {"latency_ms": 400, "latency_jitter_ms": 100}},
        providers=[
            {
                "name": name,
                "model": f"sim-{name}",
                "api_key_env": None,
                "max_in_flight": IN_FLIGHT,
                "fallback": [other],
            }
            for name, other in (("sima", "simb"), ("simb", "sima"))
        ],
        # Claims outlast the waits for a slot: no frame is sent twice because a lease ran out.
        settings={"lease_s": 60.0},
    ) as c:
        _start_workers(c)
        job = c.create_job(CANCEL_FRAMES)
        wait_until(lambda: c.count(job, FrameState.done) >= 10, 120, "10 frames done")
        cancel = subprocess.run(
            [*LABELLER, "cancel", job],
            cwd=tmp_path,
            env=c.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        assert f"cancelled job {job}" in cancel.stdout
        done_at_cancel = c.count(job, FrameState.done)
        with c.engine.connect() as conn:
            cancelled_at = conn.scalar(select(Job.finished_at).where(Job.id == job))
        assert cancelled_at is not None
        time.sleep(SETTLE_S)
        assert c.job_state(job) == "cancelled"
        assert c.count(job, FrameState.done) == done_at_cancel
        audit = c.audit(job)
        assert audit.states == {
            FrameState.done.value: done_at_cancel,
            FrameState.cancelled.value: CANCEL_FRAMES - done_at_cancel,
        }
        assert 0 < done_at_cancel < CANCEL_FRAMES
        late = sorted(
            (round(a.started_at - cancelled_at, 3), a.frame_index)
            for a in _attempts(c, job)
            if a.started_at > cancelled_at + CANCEL_SLACK_S
        )
        assert late == [], f"calls started after the cancel (s after it, frame): {late}"
        assert audit.billed_twice == []
        assert audit.cost_mismatch == []
        assert audit.unexplained == []
