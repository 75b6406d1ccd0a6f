"""A small cluster for chaos tests: a broker, the simulator, worker processes one can kill, a job.

Every chaos test ends with the same audit (`Cluster.audit`): every frame done exactly once or
failed with a reason, one result per frame, and each done frame billed once (exactly one
successful Attempt row, whose cost is the frame's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from labeller.config import Settings, load_settings
from labeller.jobs import create_job
from labeller.local._children import spawn, stop
from labeller.local.workers import worker_command
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Job, Store, make_engine
from labeller.store import upgrade as upgrade_schema

WaitUntil = Callable[..., None]

#: Short leases and a fast feeder, so a dead worker's frames come back within seconds. The
#: lease still covers a loaded machine's claim-to-call time (renewed just before the call).
FAST_RECOVERY: dict[str, Any] = {
    "lease_s": 10.0,
    "feeder": {"interval_s": 0.2, "lost_after_s": 20.0},
}


@dataclass(frozen=True)
class Audit:
    frames: int
    states: dict[str, int]
    #: Done frames without exactly one successful call (cache hits excluded).
    billed_twice: list[int]
    #: Failed frames without a reason.
    unexplained: list[int]
    #: Done frames whose cost differs from their one successful call's.
    cost_mismatch: list[int]

    def assert_clean(self, *, all_done: bool = True) -> None:
        assert sum(self.states.values()) == self.frames, self.states
        if all_done:
            assert self.states == {FrameState.done.value: self.frames}, self.states
        else:
            assert set(self.states) <= {FrameState.done.value, FrameState.failed.value}
        assert self.billed_twice == [], f"frames with != 1 successful call: {self.billed_twice}"
        assert self.unexplained == [], f"failed frames without a reason: {self.unexplained}"
        assert self.cost_mismatch == [], f"frame cost != its call's: {self.cost_mismatch}"


class Cluster:
    """Broker, limiter, database, simulator and workers for one test; `close()` stops them."""

    def __init__(
        self,
        workdir: Path,
        *,
        broker_url: str,
        redis_url: str,
        database_url: str,
        key_prefix: str,
        simulator: Mapping[str, Any] | None = None,
        providers: list[dict[str, Any]] | None = None,
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.simulator = SimulatorServer(
            SimulatorConfig.model_validate(
                simulator or {"seed": 5, "default": {"latency_ms": 150, "latency_jitter_ms": 50}}
            )
        )
        self.simulator.start()
        config: dict[str, Any] = {
            "binning": {"window": "10ms", "keep_partial": True},
            "cache": {"exact": False, "near_duplicate_bits": None},
            "providers": providers
            or [
                {
                    "name": "sima",
                    "model": "sim-a",
                    "api_key_env": None,
                    "fallback": ["simb"],
                    "timeout_s": 5.0,
                },
                {
                    "name": "simb",
                    "model": "sim-b",
                    "api_key_env": None,
                    "fallback": ["sima"],
                    "timeout_s": 5.0,
                },
            ],
            **FAST_RECOVERY,
            **(settings or {}),
        }
        for provider in config["providers"]:
            provider.setdefault("base_url", f"{self.simulator.url}/v1")
        self.config_path = workdir / "labeller.yaml"
        self.config_path.write_text(json.dumps(config))
        self.env = {
            **os.environ,
            **(secrets or {}),
            "LABELLER_BROKER_URL": broker_url,
            "LABELLER_REDIS_URL": redis_url,
            "LABELLER_DATABASE_URL": database_url,
            "LABELLER_KEY_PREFIX": key_prefix,
            "LABELLER_CONFIG": str(self.config_path),
            "LABELLER_SIMULATOR_URL": self.simulator.url,
        }
        self.settings = self._settings()
        self.engine: Engine = make_engine(database_url)
        upgrade_schema(self.engine)
        self.store = Store(self.engine, time.time)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = workdir / "logs"
        self.logs.mkdir(exist_ok=True)

    def _settings(self) -> Settings:
        saved = {k: os.environ.get(k) for k in self.env if k.startswith("LABELLER_")}
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("LABELLER_")})
        try:
            return load_settings()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    # --- workers ---------------------------------------------------------------------------

    def start_worker(
        self, name: str, *, concurrency: int = 4, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A real `celery worker` process (threads pool, feeder thread included)."""
        command = worker_command(
            [f"vlm.{p.name}" for p in self.settings.providers],
            concurrency=concurrency,
            name=f"{name}-{os.getpid()}",
        )
        process = spawn(command, env={**self.env, **(env or {})}, log=self.logs / f"{name}.log")
        self.workers[name] = process
        return process

    def signal_worker(self, name: str, signum: signal.Signals) -> None:
        self.workers[name].send_signal(signum)

    def stop_workers(self, grace_s: float = 30.0) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.terminate()
        for process in self.workers.values():
            stop(process, grace_s=grace_s)
        self.workers.clear()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    # --- the job ---------------------------------------------------------------------------

    def create_job(self, frames: int, *, seed: int = 1) -> str:
        """A simulated job of `frames` frames (10 ms windows); the workers' feeder sends them."""
        recording = self.workdir / "rec.h5"
        write_sample(
            recording, duration_s=frames / 100, width=240, height=180, rate_hz=1e5, seed=seed
        )
        with open_recording(recording, self.settings.recording) as opened:
            job_id = create_job(self.store, self.settings, opened, simulated=True)
        assert self.frame_count(job_id) == frames
        return job_id

    def frame_count(self, job_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(Job.frame_count).where(Job.id == job_id)) or 0)

    def count(self, job_id: str, *states: FrameState) -> int:
        with self.engine.connect() as conn:
            found = conn.scalar(
                select(func.count()).where(
                    Frame.job_id == job_id, Frame.state.in_([s.value for s in states])
                )
            )
        return int(found or 0)

    def leased_by(self, job_id: str, pid: int) -> list[int]:
        """Frames running under a lease of worker process `pid` (lease owners name it)."""
        with self.engine.connect() as conn:
            return [
                int(i)
                for i in conn.scalars(
                    select(Frame.index).where(
                        Frame.job_id == job_id,
                        Frame.state == FrameState.running.value,
                        Frame.lease_owner.like(f"%:{pid}:%"),
                    )
                )
            ]

    def ended(self, job_id: str) -> bool:
        return self.count(job_id, FrameState.done, FrameState.failed) == self.frame_count(job_id)

    def job_state(self, job_id: str) -> str:
        with self.engine.connect() as conn:
            return str(conn.scalar(select(Job.state).where(Job.id == job_id)))

    def audit(self, job_id: str) -> Audit:
        with self.engine.connect() as conn:
            states = {
                str(state): int(n)
                for state, n in conn.execute(
                    select(Frame.state, func.count())
                    .where(Frame.job_id == job_id)
                    .group_by(Frame.state)
                )
            }
            ok = {
                int(index): (int(n), float(cost or 0.0))
                for index, n, cost in conn.execute(
                    select(Attempt.frame_index, func.count(), func.sum(Attempt.cost_usd))
                    .where(Attempt.job_id == job_id, Attempt.status == AttemptStatus.ok.value)
                    .group_by(Attempt.frame_index)
                )
            }
            done = conn.execute(
                select(Frame.index, Frame.cost_usd, Frame.cached_from_job).where(
                    Frame.job_id == job_id, Frame.state == FrameState.done.value
                )
            ).all()
            unexplained = conn.scalars(
                select(Frame.index).where(
                    Frame.job_id == job_id,
                    Frame.state == FrameState.failed.value,
                    func.coalesce(Frame.error, "") == "",
                )
            ).all()
        billed_twice = [i for i, _, cached in done if cached is None and ok.get(i, (0, 0))[0] != 1]
        billed_twice += [i for i, (n, _) in ok.items() if n > 1 and i not in billed_twice]
        mismatch = [
            i
            for i, cost, cached in done
            if cached is None and i in ok and abs(ok[i][1] - float(cost)) > 1e-12
        ]
        return Audit(
            frames=self.frame_count(job_id),
            states=states,
            billed_twice=sorted(billed_twice),
            unexplained=[int(i) for i in unexplained],
            cost_mismatch=mismatch,
        )

    def close(self) -> None:
        self.stop_workers(grace_s=10.0)
        self.simulator.stop()
        self.engine.dispose()


@contextmanager
def cluster(workdir: Path, **options: Any) -> Iterator[Cluster]:
    """`with cluster(tmp_path, broker_url=..., ...) as c:`; everything stops at the end."""
    made = Cluster(workdir, **options)
    try:
        yield made
    finally:
        made.close()
