"""Workers killed mid-job: SIGKILL of one (its leases expire, the sweeper sends the frames
again), SIGTERM of all and a restart (in-flight calls finish; nothing is lost or paid twice)."""

from __future__ import annotations

import signal
from pathlib import Path

from labeller.store import FrameState
from tests.chaos.conftest import Broker, two_providers
from tests.chaos.harness import WaitUntil, cluster

FRAMES = 240


def test_sigkill_of_a_worker_mid_job_loses_nothing(
    tmp_path: Path, broker: Broker, database_url: str, key_prefix: str, redis_url: str,
    wait_until: WaitUntil,
) -> None:  # fmt: skip
    with cluster(
        tmp_path,
        broker_url=broker.url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        providers=two_providers(broker.providers),
    ) as c:
        c.start_worker("victim", concurrency=8)
        c.start_worker("survivor", concurrency=8)
        job = c.create_job(FRAMES)
        victim = c.workers["victim"].pid
        wait_until(lambda: c.count(job, FrameState.done) >= FRAMES // 4, 120, "a quarter done")
        wait_until(lambda: bool(c.leased_by(job, victim)), 60, "the victim holding frames")
        c.signal_worker("victim", signal.SIGKILL)
        held = c.leased_by(job, victim)  # its claims can no longer change
        wait_until(lambda: c.ended(job), 180, "every frame to end after the kill")
        wait_until(lambda: c.job_state(job) == "done", 30, "the feeder to finish the job")
        c.audit(job).assert_clean()
        # Frames the victim held came back only through the sweeper (their redelivered
        # messages, if any, met a valid lease and were dropped).
        assert held, "the victim held no frame when it was killed"
        assert "lease expired" in c.log_text() or "go out again" in c.log_text()


def test_sigterm_of_every_worker_then_a_restart_finishes_the_job(
    tmp_path: Path, broker: Broker, database_url: str, key_prefix: str, redis_url: str,
    wait_until: WaitUntil,
) -> None:  # fmt: skip
    with cluster(
        tmp_path,
        broker_url=broker.url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        providers=two_providers(broker.providers),
    ) as c:
        c.start_worker("w1", concurrency=8)
        c.start_worker("w2", concurrency=8)
        job = c.create_job(FRAMES)
        wait_until(lambda: c.count(job, FrameState.done) >= FRAMES // 4, 120, "a quarter done")
        c.stop_workers(grace_s=60.0)  # SIGTERM: warm shutdown, in-flight calls finish
        assert not c.ended(job)
        # Nothing is left leased: every call that started has ended and been recorded.
        assert c.count(job, FrameState.running) == 0
        c.start_worker("w3", concurrency=8)
        wait_until(lambda: c.ended(job), 180, "every frame to end after the restart")
        c.audit(job).assert_clean()
