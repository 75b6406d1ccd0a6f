"""A whole job through real workers, real Redis, a real database and the simulator over HTTP.

One provider enforces a limit below the offered load (a limit our config does not know), so
its 429s must be absorbed by fallback; the audit checks every frame done exactly once, the
provider's own counts against ours, and that no API key reached Redis or the database.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, inspect, select, text

from labeller.config import load_settings
from labeller.jobs import create_job, export_jsonl
from labeller.local import LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Store, make_engine, upgrade

#: Real-looking keys: the audit searches every Redis command and every database row for them.
OPENAI_KEY = "sk-proj-" + "Zq7" * 16
LOCAL_KEY = "sk-local-" + "Wx4" * 12
FRAMES = 200


class RedisMonitor:
    """Records every command the Redis server executes while the job runs (MONITOR)."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._client.monitor() as monitor:  # type: ignore[no-untyped-call]
            self._ready.set()
            for command in monitor.listen():
                self.commands.append(str(command["command"]))
                if self._stop.is_set():
                    return

    def __enter__(self) -> RedisMonitor:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._client.ping()  # one more command wakes the listener so it sees the stop flag
        self._thread.join(10)
        self._client.close()


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig.model_validate(
        {
            "seed": 3,
            "models": {
                # The stingy provider: 30 requests a minute per key, far below what we offer.
                # Its headers reveal that limit and the limiter obeys them after the first
                # replies, so random 429s as well make sure fallback is exercised every run.
                "gpt-4o-mini": {
                    "latency_ms": 20,
                    "latency_jitter_ms": 10,
                    "rpm": 30,
                    "rate_limit_rate": 0.1,
                },
                "llava-v1.6-34b": {"latency_ms": 30, "latency_jitter_ms": 10},
            },
        }
    )
    with SimulatorServer(config) as server:
        yield server


def _write_config(path: Path, simulator_url: str) -> Path:
    config = {
        "binning": {"window": "10ms", "keep_partial": True},
        # Every frame goes to a provider here; caching has its own test.
        "cache": {"exact": False, "near_duplicate_bits": None},
        "providers": [
            {
                "name": "openai",
                "model": "gpt-4o-mini",
                "base_url": f"{simulator_url}/v1",
                "api_key_env": "OPENAI_API_KEY",
                "weight": 0.5,
                "fallback": ["local"],
            },
            {
                "name": "local",
                "model": "llava-v1.6-34b",
                "base_url": f"{simulator_url}/v1",
                "api_key_env": "LOCAL_VLM_KEY",
                "weight": 0.5,
                "fallback": ["openai"],
            },
        ],
    }
    path.write_text(json.dumps(config))
    return path


def _encodings(secret: str) -> list[str]:
    """The secret as it would appear raw or inside base64 (kombu encodes message bodies)."""
    forms = [secret]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret.encode()).decode()
        forms.append(encoded[(pad * 4 + 2) // 3 + 1 : -4])
    return forms


def _rows_text(engine: Any) -> str:
    """Every value of every row of every table, as one string to search."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def test_job_runs_to_completion_with_fallback(
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    database_url: str,
    simulator: SimulatorServer,
    wait_until: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=FRAMES / 100, width=320, height=240, rate_hz=2e5, seed=5)
    config_path = _write_config(tmp_path / "labeller.yaml", simulator.url)
    env = {
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_DATABASE_URL": database_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_CONFIG": str(config_path),
        "OPENAI_API_KEY": OPENAI_KEY,
        "LOCAL_VLM_KEY": LOCAL_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    engine = make_engine(database_url)
    upgrade(engine)
    store = Store(engine, time.time)

    def finished() -> int:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count()).where(
                        Frame.state.in_((FrameState.done.value, FrameState.failed.value))
                    )
                )
                or 0
            )

    queues = [f"vlm.{p.name}" for p in settings.providers]
    with (
        RedisMonitor(redis_url) as monitor,
        LocalWorkers(2, queues=queues, concurrency=6, env=env, log_dir=tmp_path / "logs"),
    ):
        with open_recording(recording, settings.recording) as opened:
            job_id = create_job(store, settings, opened, simulated=False)
        # The workers' own feeder publishes the frames, as in production.
        wait_until(lambda: finished() == FRAMES, timeout_s=240, message="every frame to end")

    with engine.connect() as conn:
        states = dict(conn.execute(select(Frame.state, func.count()).group_by(Frame.state)).all())
        assert states == {FrameState.done.value: FRAMES}
        # Exactly one successful call per frame: nothing captioned (or billed) twice.
        ok_per_frame = conn.execute(
            select(Attempt.frame_index, func.count())
            .where(Attempt.status == AttemptStatus.ok.value)
            .group_by(Attempt.frame_index)
        ).all()
        assert len(ok_per_frame) == FRAMES
        assert {count for _, count in ok_per_frame} == {1}
        limited = conn.scalar(
            select(func.count()).where(Attempt.status == AttemptStatus.rate_limited.value)
        )
        # A fallback: a frame whose caption came from another provider than its first call.
        first_call = (
            select(Attempt.frame_index, Attempt.provider).where(Attempt.number == 1).subquery()
        )
        fallbacks = conn.scalar(
            select(func.count())
            .select_from(Frame)
            .join(first_call, first_call.c.frame_index == Frame.index)
            .where(Frame.provider != first_call.c.provider)
        )
        billed = conn.scalar(select(func.sum(Frame.cost_usd)))
        attempt_cost = conn.scalar(select(func.sum(Attempt.cost_usd)))
    assert limited and limited > 0
    assert fallbacks and fallbacks > 0
    assert billed == pytest.approx(attempt_cost)

    # The provider's side agrees: every 429 it sent is an Attempt row, every 200 a caption.
    stats = httpx.get(f"{simulator.url}/stats").json()["totals"]
    assert stats["rate_limited"] == limited
    assert stats["accepted"] == FRAMES

    out = tmp_path / "captions.jsonl"
    assert export_jsonl(engine, job_id, out) == FRAMES
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(FRAMES))
    assert all(line["caption"].startswith("Simulated caption:") for line in lines)
    assert {line["provider"] for line in lines} == {"openai", "local"}

    # Secrets never travel: not in any Redis command (task messages included), nor any row.
    published = [c for c in monitor.commands if "label_frame" in c]
    assert len(published) >= FRAMES
    # The audit can see inside message bodies: the job id travels base64-encoded in kwargs.
    assert any(
        _encodings(job_id)[1] in c or _encodings(job_id)[2] in c or _encodings(job_id)[3] in c
        for c in published
    )
    rows = _rows_text(engine)
    for key in (OPENAI_KEY, LOCAL_KEY):
        for form in _encodings(key):
            assert not [c for c in monitor.commands if form in c]
        assert key not in rows
    engine.dispose()
