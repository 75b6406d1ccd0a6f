"""End-to-end pipeline throughput on one node, against Celery's own no-op ceiling in the same run.

    python benchmarks/bench_pipeline.py [--seconds 60] [--workers 2] [--concurrency 128]

One node (this machine): an embedded Redis (broker and limiter), SQLite (WAL) in a temp dir,
the built-in simulator in this process answering every call after a fixed `--latency-ms`
(1 s) with no limits and no injected failures, and `--workers` real Celery worker processes
(`LocalWorkers`, threads pool, `--concurrency` threads each; at 1 s a call, 2 x 128 threads
allow ~250 frames/s in flight, 2 x 64 at most ~120). The job captions a sample
recording (`write_sample`: 640×480, 1 M events/s, DSEC layout, Blosc/zstd) cut into 50 ms
windows (~50k events each) started every `--stride-ms` (2 ms), so a 72 s file gives 36,000
distinct frames; the caption cache is off (`exact: false`, `near_duplicate_bits: null`), so
every frame is rendered, encoded and sent. Frames are spread over `--providers` OpenAI-format
providers served by the simulator, over one keep-alive httpx pool per provider key and process.

Frames are published by the workers' own feeder, as in production: at most a queue depth
(1000 per provider without limits) outstanding, topped up every second. The window starts
once at least `--warmup` s have passed and a frame is done; it lasts `--seconds`. Figures:
- frames_per_s: frames whose `finished_at` falls in the window, per second;
- cpu_ms_per_frame: CPU time (user + system, /proc/<pid>/stat) of the worker processes in the
  window per frame done: what labeller costs a node. Also shown, not in it: this process
  (the simulator's threads and this loop), the Redis server, and the whole machine's busy
  time (/proc/stat), each per frame, and the cores other processes used meanwhile: on a
  shared machine frames/s falls with them, CPU ms per frame much less;
- noop_ceiling_per_s: `_noop_app.noop` tasks drained per second by the same number of worker
  processes and threads, with labeller's own Celery settings (`celery_config`: acks_late,
  prefetch 1, task events as configured), between 10% and 90% of `--noop-tasks` queued first.
JPEG (q90) is the default encoding: at 640×480 it encodes in ~1 ms where PNG level 1 takes
~15 ms, and the simulator decodes it at reduced scale. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, text

from labeller.config import load_settings
from labeller.jobs import create_job
from labeller.local import EmbeddedRedis, LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import Store, make_engine, upgrade

#: Clock ticks per second of /proc/<pid>/stat and /proc/stat.
_TICKS = os.sysconf("SC_CLK_TCK")
#: Events per second of the sample, and its window (ms): ~50k events a frame.
RATE_HZ = 1e6
WINDOW_MS = 50
TARGET_FRAMES_PER_S = 200.0


def proc_times_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process `pid` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads)."""
    return sum(proc_times_s(pid))


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, already counted in user
    return (total - idle) / _TICKS, total / _TICKS


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    workers: float
    workers_sys: float
    bench: float
    redis: float
    busy: float

    @classmethod
    def take(cls, worker_pids: list[int], redis_pid: int | None) -> CpuSnapshot:
        times = [proc_times_s(pid) for pid in worker_pids]
        return cls(
            time.time(),
            sum(user + system for user, system in times),
            sum(system for _, system in times),
            self_cpu_s(),
            proc_cpu_s(redis_pid) if redis_pid else 0.0,
            machine_busy_s()[0],
        )


def _done_between(engine: Engine, job_id: str, start: float, end: float) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM frames WHERE job_id = :job AND state = 'done' "
                "AND finished_at >= :start AND finished_at < :end"
            ),
            {"job": job_id, "start": start, "end": end},
        ).scalar_one()
    return int(count)


def _states(engine: Engine, job_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT state, count(*) FROM frames WHERE job_id = :job GROUP BY state"),
            {"job": job_id},
        ).all()
    return {str(state): int(n) for state, n in rows}


def _attempt_errors(engine: Engine, job_id: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT coalesce(error, status), count(*) FROM attempts WHERE job_id = :job "
                "AND status != 'ok' GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
            ),
            {"job": job_id},
        ).all()
    return [(str(error)[:120], int(n)) for error, n in rows]


def _settings_file(work: Path, args: argparse.Namespace, name: str) -> Path:
    providers = [
        {"name": f"sim{n + 1}", "kind": "openai", "model": f"sim-model-{n + 1}"}
        for n in range(args.providers)
    ]
    path = work / name
    # JSON is YAML.
    path.write_text(
        json.dumps(
            {
                "binning": {"window": f"{WINDOW_MS}ms", "stride": f"{args.stride_ms}ms"},
                "cache": {"exact": False, "near_duplicate_bits": None},
                "render": {"encoding": args.encoding, "jpeg_quality": args.jpeg_quality},
                "providers": providers,
                "workers": args.workers,
                "worker_concurrency": args.concurrency,
            }
        )
    )
    return path


def _env(
    broker: str, database_url: str, config: Path, prefix: str, simulator_url: str
) -> dict[str, str]:
    return {
        "LABELLER_BROKER_URL": broker,
        "LABELLER_DATABASE_URL": database_url,
        "LABELLER_SIMULATOR_URL": simulator_url,
        "LABELLER_CONFIG": str(config),
        "LABELLER_KEY_PREFIX": prefix,
    }


def run_noop(broker: str, work: Path, args: argparse.Namespace) -> dict[str, float]:
    """Tasks/s that `args.workers` × `args.concurrency` threads drain of a no-op task."""
    config = _settings_file(work, args, "noop.yaml")
    env = _env(broker, args.database_url, config, "bench-noop", "http://127.0.0.1:9")
    env["BENCH_NOOP_EVENTS"] = "1" if args.noop_events else "0"
    here = Path(__file__).resolve().parent
    env["PYTHONPATH"] = os.pathsep.join([str(here), str(here.parent)])
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    sys.path.insert(0, str(here))
    try:
        _noop_app = importlib.import_module("_noop_app")  # reads the environment set above

        with _noop_app.app.producer_or_acquire() as producer:
            for _ in range(args.noop_tasks):
                _noop_app.app.send_task(_noop_app.NOOP_TASK, producer=producer)
        client = redis.Redis.from_url(broker)
        key = f"bench-noop:{_noop_app.NOOP_QUEUE}"
        if client.llen(key) != args.noop_tasks:
            raise RuntimeError(f"{key} holds {client.llen(key)} tasks, not {args.noop_tasks}")
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "_noop_app",
                    "worker",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(args.concurrency),
                    "--queues",
                    _noop_app.NOOP_QUEUE,
                    "--hostname",
                    f"noop{n}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-mingle",
                    "--without-gossip",
                ],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=(work / f"noop{n}.log").open("w"),
            )  # fmt: skip
            for n in range(args.workers)
        ]
        try:
            high, low = 0.9 * args.noop_tasks, 0.1 * args.noop_tasks
            marks: dict[str, tuple[float, float]] = {}
            deadline = time.monotonic() + 300
            while "low" not in marks and time.monotonic() < deadline:
                left = client.llen(key)
                snapshot = (time.time(), sum(proc_cpu_s(p.pid) for p in procs))
                if left <= high and "high" not in marks:
                    marks["high"] = snapshot
                if left <= low:
                    marks["low"] = snapshot
                time.sleep(0.05)
            if "low" not in marks:
                raise RuntimeError("the no-op tasks did not drain within 300 s")
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
        client.close()
        _noop_app.app.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    (t0, cpu0), (t1, cpu1) = marks["high"], marks["low"]
    drained = high - low
    return {"per_s": drained / (t1 - t0), "cpu_ms_per_task": (cpu1 - cpu0) * 1000 / drained}


def run_pipeline(
    broker: str, work: Path, args: argparse.Namespace, redis_pid: int | None
) -> dict[str, Any]:
    simulator_config = SimulatorConfig.model_validate(
        {"default": {"latency_ms": args.latency_ms, "latency": "fixed", "latency_jitter_ms": 0}}
    )
    recording = work / "rec.h5"
    duration_s = (args.frames - 1) * args.stride_ms / 1000 + WINDOW_MS / 1000
    write_sample(recording, duration_s=duration_s, rate_hz=RATE_HZ, seed=1)
    with SimulatorServer(simulator_config) as simulator:
        config = _settings_file(work, args, "labeller.yaml")
        env = _env(broker, args.database_url, config, "bench-pipeline", simulator.url)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            settings = load_settings()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        engine = make_engine(settings.database_url)
        upgrade(engine)
        store = Store(engine, time.time)
        if store.feedable_jobs():
            # The workers' feeder would serve those jobs first, oldest first.
            raise SystemExit(
                f"{args.database_url}: holds unfinished jobs; give the benchmark an empty database"
            )
        with open_recording(recording) as opened:
            if (opened.width, opened.height) != (640, 480):
                raise RuntimeError(f"sample is {opened.width}x{opened.height}, not 640x480")
            job_id = create_job(store, settings, opened, simulated=True)
        planned = sum(_states(engine, job_id).values())
        queues = [f"vlm.{p.name}" for p in settings.providers]
        started = time.time()
        with LocalWorkers(
            args.workers,
            queues=queues,
            concurrency=args.concurrency,
            env=env,
            log_dir=work / "logs",
        ) as workers:
            pids = [p.pid for p in workers.processes]
            # The workers' own feeder publishes the frames, a queue depth at a time.
            while True:
                time.sleep(0.5)
                if not workers.alive():
                    raise RuntimeError(f"the workers died; see {work / 'logs'}")
                ready = time.time() - started >= args.warmup
                if ready and _done_between(engine, job_id, 0, time.time()) > 0:
                    break
                if time.time() - started > 600:
                    raise RuntimeError("no frame done within 600 s")
            before = CpuSnapshot.take(pids, redis_pid)
            window_end = before.at + args.seconds
            while time.time() < window_end:
                time.sleep(min(10.0, max(0.0, window_end - time.time())))
                done = _done_between(engine, job_id, before.at, time.time())
                elapsed = time.time() - before.at
                print(f"  {elapsed:5.0f} s  {done / elapsed:7.1f} frames/s", file=sys.stderr)
            after = CpuSnapshot.take(pids, redis_pid)
            states = _states(engine, job_id)
    window = after.at - before.at
    done = _done_between(engine, job_id, before.at, after.at)
    errors = _attempt_errors(engine, job_id)
    engine.dispose()
    if done == 0:
        raise RuntimeError(f"no frame done in the window; states {states}")
    return {
        "frames_per_s": done / window,
        "window_s": window,
        "done": done,
        "planned": planned,
        "states": states,
        "errors": errors,
        "cpu_ms": {
            "workers": (after.workers - before.workers) * 1000 / done,
            "workers, of it system": (after.workers_sys - before.workers_sys) * 1000 / done,
            "bench (simulator)": (after.bench - before.bench) * 1000 / done,
            "redis": (after.redis - before.redis) * 1000 / done,
            "machine (all)": (after.busy - before.busy) * 1000 / done,
        },
        "other_cores": (
            (after.busy - before.busy)
            - (after.workers - before.workers)
            - (after.bench - before.bench)
            - (after.redis - before.redis)
        )
        / window,
        "machine_busy": (after.busy - before.busy) / window / (os.cpu_count() or 1),
    }


def _rounded(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window (s)")
    parser.add_argument("--warmup", type=float, default=15.0, help="at least this long first")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=128, help="threads per worker")
    parser.add_argument("--providers", type=int, default=2, help="simulated providers")
    parser.add_argument("--frames", type=int, default=36_000, help="frames of the job")
    parser.add_argument("--stride-ms", type=int, default=2, help="between window starts")
    parser.add_argument("--encoding", choices=["jpeg", "png"], default="jpeg")
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument(
        "--database-url",
        default=None,
        help="job database (default: SQLite in a temp dir); e.g. postgresql://user@host/db",
    )
    parser.add_argument("--latency-ms", type=float, default=1000.0, help="simulator latency")
    parser.add_argument("--noop-tasks", type=int, default=20_000, help="0 skips the ceiling")
    parser.add_argument(
        "--noop-events",
        type=int,
        choices=[0, 1],
        default=1,
        help="task events on the no-op workers (labeller's workers send them)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        args.database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        with EmbeddedRedis(work / "redis") as redis_server:
            url = redis_server.url
            noop = (
                run_noop(url.replace("/0", "/2"), work, args)
                if args.noop_tasks
                else {"per_s": float("nan"), "cpu_ms_per_task": float("nan")}
            )
            pipeline = run_pipeline(url.replace("/0", "/1"), work, args, redis_server.pid)
    cpu = pipeline["cpu_ms"]
    print(
        f"one node, {os.cpu_count()} cores: {args.workers} workers x {args.concurrency} threads, "
        f"{args.providers} providers, simulator {args.latency_ms:.0f} ms fixed, no limits, "
        f"640x480 {args.encoding}, cache off, {pipeline['window_s']:.0f} s measured"
    )
    print(f"{'figure':<34}{'value':>12}")
    print(f"{'frames/s (end to end)':<34}{pipeline['frames_per_s']:>12.1f}")
    print(f"{'frames done in window':<34}{pipeline['done']:>12}")
    for name, value in cpu.items():
        print(f"{'CPU ms/frame: ' + name:<34}{value:>12.2f}")
    print(f"{'machine busy (share of all cores)':<34}{pipeline['machine_busy']:>12.1%}")
    print(f"{'cores used by other processes':<34}{pipeline['other_cores']:>12.2f}")
    print(f"{'no-op ceiling tasks/s':<34}{noop['per_s']:>12.1f}")
    print(f"{'no-op CPU ms/task (workers)':<34}{noop['cpu_ms_per_task']:>12.2f}")
    print(f"frame states at the end: {pipeline['states']}")
    if pipeline["errors"]:
        print(f"failed attempts: {pipeline['errors']}")
    print(f"target: >= {TARGET_FRAMES_PER_S:.0f} frames/s")
    print(
        json.dumps(
            {
                "frames_per_s": round(pipeline["frames_per_s"], 2),
                "cpu_ms_per_frame": round(cpu["workers"], 3),
                # null, not NaN (which is not JSON), when the ceiling was skipped.
                "noop_ceiling_per_s": _rounded(noop["per_s"], 1),
                "node_cpu_ms_per_frame": round(cpu["machine (all)"], 3),
                "simulator_cpu_ms_per_frame": round(cpu["bench (simulator)"], 3),
                "redis_cpu_ms_per_frame": round(cpu["redis"], 3),
                "noop_cpu_ms_per_task": _rounded(noop["cpu_ms_per_task"], 3),
                "workers": args.workers,
                "concurrency": args.concurrency,
                "providers": args.providers,
                "encoding": args.encoding,
            }
        )
    )


if __name__ == "__main__":
    main()
