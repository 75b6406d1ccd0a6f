"""The workers' Prometheus exporter during and after a real job, checked against the database.

Two real worker processes (threads pool) share one node's metrics directory; the first to bind
`metrics_port` (a free one, on 127.0.0.1: never the default 9464 a real node may serve) serves
both, summed. The providers and simulator are the session's finished job's (`openai` sheds a third
of its calls with 429s, each falls back to the other), so 429s (keys cooling down) and fallbacks
occur.
The exporter is scraped while the job runs and again once every frame has ended (the workers
still up), and each counter must equal what the Attempt and Frame rows say.
"""

from __future__ import annotations

import shutil
import socket
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from labeller.config import load_settings
from labeller.jobs import create_job
from labeller.local import LocalWorkers
from labeller.metrics import METRICS, Kind, default_directory
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Attempt, AttemptStatus, Frame, FrameState, Store, make_engine, upgrade
from tests.integration.conftest import finished_job_config

OPENAI_KEY = "sk-proj-" + "Mx9" * 14
ANTHROPIC_KEY = "sk-ant-" + "Pq3" * 14

Labels = tuple[tuple[str, str], ...]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Scrape:
    text: str
    #: (sample name, sorted labels) -> value.
    samples: dict[tuple[str, Labels], float]
    #: Names of the metric families that have samples (counters without `_total`).
    families: set[str]

    def by(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        """`name`'s samples summed over every label but `labels`."""
        summed: defaultdict[tuple[str, ...], float] = defaultdict(float)
        for (sample, pairs), value in self.samples.items():
            if sample == name:
                found = dict(pairs)
                summed[tuple(found.get(label, "") for label in labels)] += value
        return dict(summed)

    def total(self, name: str) -> float:
        return sum(v for (sample, _), v in self.samples.items() if sample == name)


def scrape(url: str) -> Scrape | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    families = [f for f in text_string_to_metric_families(response.text) if f.samples]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return Scrape(response.text, samples, {f.name for f in families})


def _config(workdir: Path) -> dict[str, object]:
    """The finished job's providers and simulator, with the feeder topping queues up quickly."""
    config = finished_job_config(workdir)
    config["feeder"] = {"interval_s": 0.2}
    return config


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorServer]:
    config = SimulatorConfig.model_validate(_config(tmp_path)["simulator"])
    with SimulatorServer(config) as server:
        yield server


@dataclass(frozen=True)
class Recorded:
    """What the database says the job did, shaped like the metrics."""

    #: (provider, status) -> Attempt rows.
    attempts: dict[tuple[str, str], int]
    #: provider -> (prompt tokens, completion tokens, cost USD) over its Attempt rows.
    sums: dict[str, tuple[int, int, float]]
    #: provider -> frames it captioned (cache hits excluded).
    done: dict[str, int]
    cached: int
    failed: int
    #: Pids of the worker processes that made calls.
    worker_pids: set[str]
    #: Times a frame's call went to another provider than its previous call.
    switches: int


def recorded(engine: Engine) -> Recorded:
    with engine.connect() as conn:
        attempts = conn.execute(
            select(Attempt.provider, Attempt.status, func.count()).group_by(
                Attempt.provider, Attempt.status
            )
        )
        sums = conn.execute(
            select(
                Attempt.provider,
                func.sum(Attempt.prompt_tokens),
                func.sum(Attempt.completion_tokens),
                func.sum(Attempt.cost_usd),
            ).group_by(Attempt.provider)
        )
        done = conn.execute(
            select(Frame.provider, func.count())
            .where(Frame.state == FrameState.done.value, Frame.cached_from_job.is_(None))
            .group_by(Frame.provider)
        )
        cached = conn.scalar(
            select(func.count()).where(
                Frame.state == FrameState.done.value, Frame.cached_from_job.is_not(None)
            )
        )
        failed = conn.scalar(select(func.count()).where(Frame.state == FrameState.failed.value))
        return Recorded(
            attempts={(str(p), str(s)): int(n) for p, s, n in attempts},
            sums={str(p): (int(pt), int(ct), float(c)) for p, pt, ct, c in sums},
            done={str(p): int(n) for p, n in done},
            cached=int(cached or 0),
            failed=int(failed or 0),
            worker_pids={w.split(":")[1] for w in conn.scalars(select(Attempt.worker))},
            switches=_switches(
                conn.execute(
                    select(Attempt.frame_index, Attempt.provider).order_by(
                        Attempt.frame_index, Attempt.id
                    )
                )
            ),
        )


def _switches(calls: Iterable[tuple[int, str]]) -> int:
    """Provider changes between consecutive calls of a frame, `calls` in order per frame."""
    last: tuple[int, str] | None = None
    changes = 0
    for frame, provider in calls:
        if last is not None and last[0] == frame and last[1] != provider:
            changes += 1
        last = (frame, provider)
    return changes


def test_metrics_match_the_database(
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    simulator: SimulatorServer,
    wait_until: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    config = _config(tmp_path)
    database_url = str(config["database_url"])
    config_path = tmp_path / "labeller.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_DATABASE_URL": database_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_CONFIG": str(config_path),
        "LABELLER_SIMULATOR_URL": simulator.url,
        # Over the suite's 0 (tests/conftest.py): this test's own port, on this machine only.
        "LABELLER_METRICS_PORT": str(port),
        "LABELLER_METRICS_HOST": "127.0.0.1",
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The workers choose the node's directory themselves (one per port and prefix, fresh here).
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    directory = default_directory(port, key_prefix)
    request.addfinalizer(lambda: shutil.rmtree(directory, ignore_errors=True))
    settings = load_settings()
    engine = make_engine(database_url)
    upgrade(engine)
    store = Store(engine, time.time)
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=2.0, width=160, height=120, rate_hz=1e5, seed=4)

    def states() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(select(Frame.state, func.count()).group_by(Frame.state))
            return {str(state): int(n) for state, n in rows}

    def ended() -> int:
        now = states()
        return now.get(FrameState.done.value, 0) + now.get(FrameState.failed.value, 0)

    queues = [f"vlm.{p.name}" for p in settings.providers]
    logs = tmp_path / "logs"
    with LocalWorkers(2, queues=queues, concurrency=4, env=env, log_dir=logs):
        with open_recording(recording, settings.recording) as opened:
            create_job(store, settings, opened, simulated=True)
        frames = sum(states().values())

        # During the job: the exporter answers with the workers' first counts.
        def counting() -> bool:
            now = scrape(url)
            return now is not None and now.total("labeller_attempts_total") > 0

        wait_until(counting, 90, "the exporter to show the first attempts")
        during = scrape(url)
        assert during is not None
        assert {q for (q,) in during.by("labeller_queue_depth", "queue")} == set(queues)

        wait_until(lambda: ended() == frames, 60, lambda: f"every frame to end: {states()}")
        db = recorded(engine)
        assert sum(db.done.values()) + db.cached + db.failed == frames

        # A task counts its frame just after its last write: wait for the last few to count.
        def all_counted() -> bool:
            now = scrape(url)
            if now is None:
                return False
            outcomes = now.by("labeller_frames_total", "outcome")
            return sum(outcomes.get((o,), 0) for o in ("done", "cached", "failed")) == frames

        wait_until(all_counted, 30, lambda: f"frame counts to reach {frames}: {scrape(url)}")
        final = scrape(url)
        assert final is not None
        depths = redis.Redis.from_url(redis_url)
        try:
            lengths = {q: int(depths.llen(f"{key_prefix}:{q}")) for q in queues}
        finally:
            depths.close()

    assert final.by("labeller_attempts_total", "provider", "status") == {
        k: float(v) for k, v in db.attempts.items()
    }
    limited = {p: n for (p, s), n in db.attempts.items() if s == AttemptStatus.rate_limited.value}
    assert limited.get("openai", 0) > 0, "the simulator's 429s should have shown up"
    assert final.by("labeller_rate_limited_total", "provider") == {
        (p,): float(n) for p, n in limited.items()
    }
    # The key's alias (its variable's name), never the key.
    assert {k for _, k in final.by("labeller_rate_limited_total", "provider", "key")} == {
        "OPENAI_API_KEY"
    }
    frames_by = final.by("labeller_frames_total", "outcome", "provider")
    assert {p: n for (o, p), n in frames_by.items() if o == "done"} == {
        p: float(n) for p, n in db.done.items()
    }
    outcomes = final.by("labeller_frames_total", "outcome")
    assert outcomes.get(("cached",), 0) == db.cached
    assert outcomes.get(("failed",), 0) == db.failed

    tokens = final.by("labeller_tokens_total", "provider", "kind")
    cost = final.by("labeller_cost_usd_total", "provider")
    calls = final.by("labeller_provider_latency_seconds_count", "provider")
    slots = final.by("labeller_slot_wait_seconds_count", "provider")
    for provider, (prompt, completion, usd) in db.sums.items():
        assert tokens[(provider, "prompt")] == prompt
        assert tokens[(provider, "completion")] == completion
        assert cost[(provider,)] == pytest.approx(usd, rel=1e-9)
        made = sum(n for (p, _), n in db.attempts.items() if p == provider)
        assert calls[(provider,)] == made
        # Every call had a slot first (no lease was lost between slot and call here).
        assert slots[(provider,)] == made
    # Fallbacks as a whole cannot equal a count of rows: a move for want of a slot (reason
    # cooldown, rpm, ...) leaves none, a move that ends in a wait has no call after it, and a
    # frame may move there and back between two calls. Two parts can be checked all the same:
    # - a 429 is never the frame's last word and each provider's chain is the other one, so
    #   every 429 moved its frame exactly once, to the other provider (reason rate_limited);
    # - every change of provider between a frame's consecutive calls took at least one move.
    other = {"openai": "anthropic", "anthropic": "openai"}
    moves = final.by("labeller_fallbacks_total", "from_provider", "to_provider", "reason")
    assert {(f, t): n for (f, t, r), n in moves.items() if r == "rate_limited"} == {
        (p, other[p]): float(n) for p, n in limited.items()
    }
    assert db.switches > 0, "429s on openai should have sent some frames' calls to anthropic"
    assert final.total("labeller_fallbacks_total") >= db.switches
    assert set(final.by("labeller_calls_in_flight", "provider").values()) == {0.0}
    assert final.by("labeller_queue_depth", "queue") == {(q,): float(n) for q, n in lengths.items()}

    # Every metric exposed is documented, and each documented one showed up (a refusal of
    # every slot on the chain needs limits this job does not set).
    documented = {m.name.removesuffix("_total") for m in METRICS if m.kind is Kind.counter}
    documented |= {m.name for m in METRICS if m.kind is not Kind.counter}
    assert final.families <= documented
    assert documented - final.families == {"labeller_slot_refusals"}

    # Both worker processes made calls, and the one exporter counted them all, from files in
    # the node's private directory.
    assert len(db.worker_pids) == 2
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert any(directory.glob("counter_*.db"))
    for text in (during.text, final.text):
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text
    engine.dispose()
