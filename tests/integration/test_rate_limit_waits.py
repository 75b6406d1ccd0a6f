"""When every key of the only provider keeps answering 429, frames wait; they never fail for it.

The provider refuses 60% of calls with a short retry-after, the frame budget is two attempts
and there is no fallback: a gateway that counts 429s as failures would fail most frames here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from labeller.config import load_settings
from labeller.jobs import create_job
from labeller.local import LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Store, make_engine, upgrade

FRAMES = 30


def test_frames_wait_out_429s_instead_of_failing(
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    wait_until: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = {"latency_ms": 10, "latency_jitter_ms": 5, "rate_limit_rate": 0.6}
    config = SimulatorConfig.model_validate({"seed": 9, "models": {"gpt-4o-mini": profile}})
    database_url = f"sqlite:///{tmp_path / 'labeller.db'}"
    with SimulatorServer(config) as simulator:
        settings_file = tmp_path / "labeller.yaml"
        settings_file.write_text(
            json.dumps(
                {
                    "binning": {"window": "10ms", "keep_partial": True},
                    "cache": {"exact": False, "near_duplicate_bits": None},
                    "max_attempts": 2,
                    "providers": [
                        {
                            "name": "openai",
                            "model": "gpt-4o-mini",
                            "base_url": f"{simulator.url}/v1",
                        }
                    ],
                }
            )
        )
        env = {
            "LABELLER_BROKER_URL": redis_url,
            "LABELLER_DATABASE_URL": database_url,
            "LABELLER_KEY_PREFIX": key_prefix,
            "LABELLER_CONFIG": str(settings_file),
            "OPENAI_API_KEY": "sk-proj-" + "W8x" * 16,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        engine = make_engine(database_url)
        upgrade(engine)
        store = Store(engine, time.time)
        recording = tmp_path / "rec.h5"
        write_sample(recording, duration_s=FRAMES / 100, width=96, height=64, rate_hz=5e4)

        def ended() -> int:
            terminal = (FrameState.done.value, FrameState.failed.value)
            with engine.connect() as conn:
                return int(conn.scalar(select(func.count()).where(Frame.state.in_(terminal))) or 0)

        with LocalWorkers(
            2, queues=["vlm.openai"], concurrency=4, env=env, log_dir=tmp_path / "logs"
        ):
            with open_recording(recording) as opened:
                create_job(store, settings, opened, simulated=False)
            # The workers' own feeder publishes the frames, as in production.
            wait_until(lambda: ended() == FRAMES, timeout_s=180, message="every frame to end")

    with engine.connect() as conn:
        states = dict(conn.execute(select(Frame.state, func.count()).group_by(Frame.state)).all())
        limited = conn.scalar(
            select(func.count()).where(Attempt.status == AttemptStatus.rate_limited.value)
        )
        most = conn.scalar(
            select(func.max(Frame.attempts)).where(Frame.state == FrameState.done.value)
        )
    assert states == {FrameState.done.value: FRAMES}
    assert limited is not None and limited > FRAMES  # far more 429s than the attempt budget
    assert most is not None and most <= 2
    engine.dispose()
