"""Three providers, three wire formats, two worker "nodes", one shared Redis: the limits hold.

The simulator enforces per-key limits. OpenAI's real limit is hidden from us (configured 100
RPM, enforced 10 per key, revealed only by its response headers) and it sheds 30% of calls
with 429s: they must be absorbed by fallback. Anthropic and Gemini are
configured at exactly what they enforce: our limiter must keep every 60 s window of every key
within it (no 429 from them at all), across both groups of worker processes. The bill in the
database must equal the simulator's own token counts priced by the table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from labeller.config import load_settings
from labeller.jobs import create_job
from labeller.local import LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.routing import price_for
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Store, make_engine, upgrade

FRAMES = 90
KEYS = {
    "OPENAI_KEY_A": "sk-proj-" + "A1b" * 16,
    "OPENAI_KEY_B": "sk-proj-" + "B2c" * 16,
    "ANTHROPIC_API_KEY": "sk-ant-" + "C3d" * 16,
    "GEMINI_API_KEY": "AIza" + "D4e" * 12,
}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.0-flash"}
#: What the simulator enforces per key; Anthropic's and Gemini's are also what we configure.
ENFORCED_RPM = {"openai": 10, "anthropic": 30, "gemini": 30}


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    profile = {"latency_ms": 40, "latency_jitter_ms": 20}
    config = SimulatorConfig.model_validate(
        {
            "seed": 5,
            "models": {MODELS[name]: {**profile, "rpm": rpm} for name, rpm in ENFORCED_RPM.items()}
            # OpenAI's headers reveal its real limit and our limiter obeys them after the first
            # replies, so it also sheds calls at random, as the docstring says.
            | {
                MODELS["openai"]: {**profile, "rpm": ENFORCED_RPM["openai"], "rate_limit_rate": 0.3}
            },
        }
    )
    with SimulatorServer(config) as server:
        yield server


def _config(path: Path, url: str) -> Path:
    providers = [
        {
            "name": "openai",
            "kind": "openai",
            "model": MODELS["openai"],
            "base_url": f"{url}/v1",
            "keys": [{"env": "OPENAI_KEY_A"}, {"env": "OPENAI_KEY_B"}],
            "rpm": 100,
            "weight": 0.5,
            "fallback": ["anthropic", "gemini"],
        },
        {
            "name": "anthropic",
            "kind": "anthropic",
            "model": MODELS["anthropic"],
            "base_url": url,
            "rpm": ENFORCED_RPM["anthropic"],
            "weight": 0.25,
            "fallback": ["gemini"],
        },
        {
            "name": "gemini",
            "kind": "gemini",
            "model": MODELS["gemini"],
            "base_url": url,
            "rpm": ENFORCED_RPM["gemini"],
            "weight": 0.25,
            "fallback": ["anthropic"],
        },
    ]
    settings = {
        "binning": {"window": "10ms", "keep_partial": True},
        "cache": {"exact": False, "near_duplicate_bits": None},
        "providers": providers,
    }
    path.write_text(json.dumps(settings))
    return path


def _max_in_any_window(times: list[float], window_s: float = 60.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_limits_hold_across_two_nodes_and_fallback_absorbs_429s(
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    simulator: SimulatorServer,
    wait_until: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SQLite only: the database does not matter here, and each run waits out a 60 s window.
    database_url = f"sqlite:///{tmp_path / 'labeller.db'}"
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=FRAMES / 100, width=160, height=120, rate_hz=1e5, seed=6)
    env = {
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_DATABASE_URL": database_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_CONFIG": str(_config(tmp_path / "labeller.yaml", simulator.url)),
        **KEYS,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    engine = make_engine(database_url)
    upgrade(engine)
    store = Store(engine, time.time)

    def ended() -> int:
        with engine.connect() as conn:
            terminal = (FrameState.done.value, FrameState.failed.value)
            return int(conn.scalar(select(func.count()).where(Frame.state.in_(terminal))) or 0)

    queues = [f"vlm.{p.name}" for p in settings.providers]
    node = {"queues": queues, "concurrency": 4, "env": env}
    with (
        LocalWorkers(1, log_dir=tmp_path / "node-a", **node),  # type: ignore[arg-type]
        LocalWorkers(1, log_dir=tmp_path / "node-b", **node),  # type: ignore[arg-type]
    ):
        with open_recording(recording) as opened:
            create_job(store, settings, opened, simulated=False)
        # The workers' own feeder publishes the frames, as in production.
        wait_until(lambda: ended() == FRAMES, timeout_s=240, message="every frame to end")

    with engine.connect() as conn:
        states = dict(conn.execute(select(Frame.state, func.count()).group_by(Frame.state)).all())
        ok = dict(
            conn.execute(
                select(Attempt.provider, func.count())
                .where(Attempt.status == AttemptStatus.ok.value)
                .group_by(Attempt.provider)
            ).all()
        )
        limited = dict(
            conn.execute(
                select(Attempt.provider, func.count())
                .where(Attempt.status == AttemptStatus.rate_limited.value)
                .group_by(Attempt.provider)
            ).all()
        )
        cost = dict(
            conn.execute(select(Attempt.provider, func.sum(Attempt.cost_usd)).group_by(
                Attempt.provider
            )).all()
        )  # fmt: skip
    engine.dispose()
    assert states == {FrameState.done.value: FRAMES}  # every frame done, none twice
    assert sum(ok.values()) == FRAMES
    assert limited.get("openai", 0) > 0, (ok, limited)  # the hidden limit bit...
    assert set(limited) <= {"openai"}  # ...and only there: no 429 caused by our own overuse

    stats = httpx.get(f"{simulator.url}/stats", params={"requests": "1"}).json()["keys"]
    priced: dict[str, float] = {}
    for provider in settings.providers:
        price = price_for(provider)
        aliases = [k.env for k in provider.key_list]
        for alias in aliases:
            entry: dict[str, Any] = stats.get(SimulatorServer.key_hash(KEYS[alias]), {})
            requests = entry.get(provider.model, {}).get("requests", [])
            if provider.name != "openai":
                worst = _max_in_any_window([r[0] for r in requests])
                assert worst <= ENFORCED_RPM[provider.name], (provider.name, worst)
            priced[provider.name] = priced.get(provider.name, 0.0) + sum(
                (r[1] * price.input_per_mtok + r[2] * price.output_per_mtok) / 1e6 for r in requests
            )
    for name, usd in priced.items():
        assert cost.get(name, 0.0) == pytest.approx(usd, rel=1e-9, abs=1e-12), name
