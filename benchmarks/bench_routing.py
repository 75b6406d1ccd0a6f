"""Routing throughput against known limits: labeller's shared limiter versus Celery's rate_limit.

    python benchmarks/bench_routing.py [--seconds 120] [--workers 2]

Three simulated providers (OpenAI wire format, 300 ms latency) enforce per-key RPM limits of
120, 90 and 60; labeller is configured with the same limits. Both contenders get more frames
than the limits allow in the measured time, on an embedded Redis, with real worker processes:
- labeller: `LocalWorkers` on a job whose providers point at the simulator;
- baseline: plain Celery tasks with `rate_limit="<rpm>/m"` per provider (per worker instance).
Figures, from the simulator's own log of accepted requests over `--seconds` from the first:
utilization = accepted / (sum of limits × minutes); self-inflicted 429s = 429s the simulator
sent (our limits equal its limits, so each one is our overuse); acquire_us = one limiter
acquire on this Redis, timed in-process. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from labeller.config import ProviderSettings, load_settings
from labeller.jobs import create_job, requeue_pending
from labeller.local import EmbeddedRedis, LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.routing import Grant, Limiter, RedisBackend, RouteLimits
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Store, make_engine, upgrade
from workers import make_publisher

LIMITS = {"model-a": 120, "model-b": 90, "model-c": 60}
LATENCY_MS = 300


def _accepted(simulator: SimulatorServer) -> tuple[list[float], int]:
    stats = httpx.get(f"{simulator.url}/stats", params={"requests": "1"}).json()
    times = [
        request[0]
        for models in stats["keys"].values()
        for entry in models.values()
        for request in entry.get("requests", [])
    ]
    return sorted(times), int(stats["totals"]["rate_limited"])


def _utilization(times: list[float], seconds: float) -> float:
    if not times:
        return 0.0
    start = times[0]
    inside = sum(1 for t in times if t < start + seconds)
    return inside / (sum(LIMITS.values()) * seconds / 60.0)


def _wait(seconds: float, simulator: SimulatorServer) -> None:
    deadline = time.monotonic() + 30
    while not _accepted(simulator)[0] and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(seconds + 2)


def run_labeller(broker: str, work: Path, seconds: float, workers: int) -> dict[str, Any]:
    config = SimulatorConfig.model_validate(
        {"models": {m: {"latency_ms": LATENCY_MS, "rpm": rpm} for m, rpm in LIMITS.items()}}
    )
    with SimulatorServer(config) as simulator:
        frames = int(sum(LIMITS.values()) * seconds / 60 * 1.5)
        providers = [
            {"name": m.replace("model-", "p"), "model": m, "base_url": f"{simulator.url}/v1",
             "api_key_env": f"BENCH_KEY_{m[-1].upper()}", "rpm": rpm, "weight": rpm}
            for m, rpm in LIMITS.items()
        ]  # fmt: skip
        settings_file = work / "labeller.yaml"
        settings_file.write_text(
            json.dumps(
                {
                    "binning": {"window": "10ms", "keep_partial": True},
                    "cache": {"exact": False, "near_duplicate_bits": None},
                    "providers": providers,
                }
            )
        )
        env = {
            "LABELLER_BROKER_URL": broker,
            "LABELLER_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "LABELLER_CONFIG": str(settings_file),
            "LABELLER_KEY_PREFIX": "bench-labeller",
            **{f"BENCH_KEY_{m[-1].upper()}": f"sk-bench-{m}" for m in LIMITS},
        }
        os.environ.update(env)
        settings = load_settings()
        engine = make_engine(env["LABELLER_DATABASE_URL"])
        upgrade(engine)
        store = Store(engine, time.time)
        recording = work / "rec.h5"
        write_sample(recording, duration_s=frames / 100, width=160, height=120, rate_hz=5e4)
        queues = [f"vlm.{p['name']}" for p in providers]
        with LocalWorkers(workers, queues=queues, concurrency=32, env=env, log_dir=work / "logs"):
            with open_recording(recording) as opened:
                job_id = create_job(store, settings, opened, simulated=False)
            publisher = make_publisher(settings)
            requeue_pending(store, publisher, job_id)
            publisher.close()
            _wait(seconds, simulator)
            times, limited = _accepted(simulator)
        engine.dispose()
    return {"utilization": _utilization(times, seconds), "self_inflicted_429s": limited}


def run_baseline(broker: str, work: Path, seconds: float, workers: int) -> dict[str, Any]:
    config = SimulatorConfig.model_validate(
        {"models": {m: {"latency_ms": LATENCY_MS, "rpm": rpm} for m, rpm in LIMITS.items()}}
    )
    with SimulatorServer(config) as simulator:
        env = {
            **os.environ,
            "BENCH_LIMITS": json.dumps(LIMITS),
            "BENCH_SIMULATOR": simulator.url,
            "BENCH_BROKER": broker,
            "PYTHONPATH": str(Path(__file__).parent),
        }
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "_routing_baseline_app",
                    "worker",
                    "--pool",
                    "threads",
                    "-c",
                    "32",
                    "-n",
                    f"baseline{n}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-mingle",
                    "--without-gossip",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(work / f"baseline{n}.log").open("w"),
            )  # fmt: skip
            for n in range(workers)
        ]
        sys.path.insert(0, str(Path(__file__).parent))
        os.environ.update({k: env[k] for k in ("BENCH_LIMITS", "BENCH_SIMULATOR", "BENCH_BROKER")})
        baseline = importlib.import_module("_routing_baseline_app")  # reads the env set above

        frames = int(sum(LIMITS.values()) * seconds / 60 * 1.5)
        with baseline.app.producer_or_acquire() as producer:
            for n in range(frames):
                model = list(LIMITS)[n % len(LIMITS)]
                baseline.app.send_task(f"call.{model}", producer=producer)
        _wait(seconds, simulator)
        times, limited = _accepted(simulator)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    return {"utilization": _utilization(times, seconds), "self_inflicted_429s": limited}


def acquire_us(redis_url: str, n: int = 3000) -> float:
    limiter = Limiter(RedisBackend.from_url(redis_url), "bench-acquire")
    route = RouteLimits.from_settings(
        ProviderSettings(name="p", model="m", rpm=10_000_000, tpm=10_000_000_000)
    )
    started = time.perf_counter()
    for _ in range(n):
        grant = limiter.acquire(route, 100)
        assert isinstance(grant, Grant)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Whole minutes: a sliding 60 s window lets a minute's quota go at once, so shorter
    # measurements overstate what a long run sustains.
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with EmbeddedRedis(work / "redis") as redis_server:
            url = redis_server.url
            labeller = run_labeller(url.replace("/0", "/1"), work, args.seconds, args.workers)
            baseline = run_baseline(url.replace("/0", "/2"), work, args.seconds, args.workers)
            per_acquire = acquire_us(url.replace("/0", "/3"))
    print(f"limits {LIMITS} rpm (sum {sum(LIMITS.values())}), latency {LATENCY_MS} ms, "
          f"{args.workers} workers, {args.seconds:.0f} s measured")  # fmt: skip
    print(f"{'contender':<28}{'utilization':>12}{'429s':>8}")
    print(f"{'labeller limiter':<28}{labeller['utilization']:>12.3f}"
          f"{labeller['self_inflicted_429s']:>8}")  # fmt: skip
    print(f"{'celery rate_limit':<28}{baseline['utilization']:>12.3f}"
          f"{baseline['self_inflicted_429s']:>8}")  # fmt: skip
    print(f"limiter acquire: {per_acquire:.0f} us (one Lua round trip)")
    print("targets: utilization >= 0.95, self-inflicted 429s = 0")
    print(
        json.dumps(
            {
                "utilization": round(labeller["utilization"], 4),
                "self_inflicted_429s": labeller["self_inflicted_429s"],
                "acquire_us": round(per_acquire, 1),
                "baseline_utilization": round(baseline["utilization"], 4),
                "baseline_429s": baseline["self_inflicted_429s"],
            }
        )
    )


if __name__ == "__main__":
    main()
