"""Services killed mid-job: the Redis broker and limiter (restarted empty), and PostgreSQL.

Redis: the server that is both broker and limiter is SIGKILLed and a new, empty one takes its
port. Every queued message, every unacknowledged one and the limiter's state are gone. The
workers reconnect by themselves; the feeder sees the marker key it writes with every publish
vanish and sends every `queued` frame again, and the frames that were running come back when
their lease expires.

PostgreSQL: the server (shared with the other tests) is stopped for a few seconds and started
again. Tasks that meet the outage before their provider call fail with StoreError and Celery
retries them with backoff; writes after a call are retried until the database is back.

Both end with the usual audit: every frame done, each billed exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from labeller.local import EmbeddedRedis
from labeller.store import Attempt, AttemptStatus, FrameState
from tests.chaos.conftest import two_providers
from tests.chaos.harness import Cluster, WaitUntil, cluster

FRAMES = 240
#: How long the killed Redis stays away before an empty one takes its port.
REDIS_AWAY_S = 2.0
#: The frames running when Redis dies come back when their lease expires. Not the harness's
#: 4 s: a worker's first frames (recording opened, clients built after the claim) can take
#: longer than that on a loaded machine, and the sweeper then hands them to a second worker
#: while the first one's call goes on: paid twice, whatever happens to Redis.
REDIS_LEASE_S = 15.0
#: How long PostgreSQL stays stopped.
POSTGRES_AWAY_S = 5.0
#: Leases outlast the outage plus the pipeline's write retries after it (0.5 s doubling to
#: 10 s): a lease shorter than the outage lets the sweeper hand a frame whose call was made
#: (and paid) to another worker before its caption is written, and that frame is paid twice.
#: `STORE_PATIENCE_S` says the same of production leases: keep them above the patience.
POSTGRES_LEASE_S = 30.0

pytestmark = pytest.mark.timeout(300)


def _names() -> tuple[str, str]:
    token = uuid.uuid4().hex[:8]
    return f"a{token}", f"b{token}"


def _finish(c: Cluster, job: str, wait_until: WaitUntil, after: str) -> None:
    wait_until(lambda: c.ended(job), 180, f"every frame to end after {after}")
    wait_until(lambda: c.job_state(job) == "done", 30, "the feeder to finish the job")
    c.audit(job).assert_clean()
    _assert_every_paid_call_recorded(c, job)


def _assert_every_paid_call_recorded(c: Cluster, job: str) -> None:
    """The provider's side of the audit: each call it answered (and bills) is an Attempt row.

    The audit counts Attempt rows, so a call whose outcome was never written (a caption lost
    after the provider answered) escapes it, and the frame is paid for twice.
    """
    answered = httpx.get(f"{c.simulator.url}/stats", timeout=10).json()["totals"]["accepted"]
    with c.engine.connect() as conn:
        recorded = conn.scalar(
            select(func.count()).where(
                Attempt.job_id == job, Attempt.status == AttemptStatus.ok.value
            )
        )
    assert answered == recorded == FRAMES, (
        f"the provider answered {answered} call(s), {recorded} recorded, for {FRAMES} frames"
    )


def test_embedded_redis_killed_and_restarted_empty(
    tmp_path: Path, database_url: str, key_prefix: str, wait_until: WaitUntil
) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(EmbeddedRedis(tmp_path / "redis-1"))
        # Stopped after the cluster: workers shut down while the new server is up.
        second = EmbeddedRedis(tmp_path / "redis-2", port=first.port)
        stack.callback(second.stop)
        c = stack.enter_context(
            cluster(
                tmp_path,
                broker_url=first.url,
                redis_url=first.url,
                database_url=database_url,
                key_prefix=key_prefix,
                providers=two_providers(_names()),
                settings={"lease_s": REDIS_LEASE_S},
            )
        )
        c.start_worker("w1", concurrency=8)
        c.start_worker("w2", concurrency=8)
        job = c.create_job(FRAMES)
        wait_until(lambda: c.count(job, FrameState.done) >= FRAMES // 4, 120, "a quarter done")
        wait_until(lambda: c.count(job, FrameState.running) > 0, 30, "frames in flight")
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        assert first._process is not None
        first._process.wait(timeout=10)
        time.sleep(REDIS_AWAY_S)
        second.start()
        assert second.url == first.url
        _finish(c, job, wait_until, "Redis came back empty")
        for name, process in c.workers.items():
            assert process.poll() is None, f"worker {name} exited after the Redis restart"
        log = c.log_text()
        assert "lost with the broker's data" in log, "the feeder never saw the broker's loss"


def _pg_ctl(version: str, action: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        timeout=120,
        capture_output=True,
    )


def _ensure_started(version: str) -> None:
    """Start the cluster unless it runs (`status` exits 0 when it does)."""
    if _pg_ctl(version, "status").returncode != 0:
        started = _pg_ctl(version, "start")
        assert started.returncode == 0, started.stderr.decode(errors="replace")


def _ended(c: Cluster, job: str) -> bool:
    """`c.ended(job)`, False while the test's own engine cannot reach the database."""
    try:
        return c.ended(job)
    except SQLAlchemyError:
        return False


def test_postgresql_restarted_mid_job(
    tmp_path: Path, database_url: str, key_prefix: str, redis_url: str, wait_until: WaitUntil
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("restarts the PostgreSQL server: the SQLite case has no server")
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        pytest.skip("needs root and pg_ctlcluster (Debian's postgresql-common) to restart it")
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    if len(versions) != 1:
        pytest.skip(f"expected one PostgreSQL version in /etc/postgresql, found {versions}")
    version = versions[0]
    with cluster(
        tmp_path,
        broker_url=redis_url,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        providers=two_providers(_names()),
        settings={"lease_s": POSTGRES_LEASE_S},
    ) as c:
        c.start_worker("w1", concurrency=8)
        c.start_worker("w2", concurrency=8)
        job = c.create_job(FRAMES)
        wait_until(lambda: c.count(job, FrameState.done) >= FRAMES // 4, 120, "a quarter done")
        wait_until(lambda: c.count(job, FrameState.running) > 0, 30, "frames in flight")
        try:
            stopped = _pg_ctl(version, "stop")
            assert stopped.returncode == 0, stopped.stderr.decode(errors="replace")
            time.sleep(POSTGRES_AWAY_S)
        finally:
            _ensure_started(version)  # other tests share the server, pass or fail
        wait_until(lambda: _ended(c, job), 180, "every frame to end after the restart")
        wait_until(lambda: c.job_state(job) == "done", 30, "the feeder to finish the job")
        c.audit(job).assert_clean()
        _assert_every_paid_call_recorded(c, job)
        for name, process in c.workers.items():
            assert process.poll() is None, f"worker {name} exited after the PostgreSQL restart"
