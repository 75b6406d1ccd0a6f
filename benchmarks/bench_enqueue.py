"""Create a 1,000,000-frame job against the embedded Redis, under backpressure, beside a naive loop.

    python benchmarks/bench_enqueue.py [--frames 1000000] [--naive 20000] [--depth 2000]

Ours: `create_job` plans the windows and writes the Frame rows in committed multi-row batches
while the feeder (`labeller.jobs.Feeder`, the code the workers run, here in its own process)
publishes them in pipelined batches, never more than `--depth` messages per provider queue.
A drain process stands in for infinitely fast workers: it pops messages and marks their frames
done in bulk, so the feeder can go on; it also notes when the first message arrived. The
baseline, in the same run on the same Redis and database kind: one ORM insert and commit and
one `apply_async` per frame, what a one-off dispatcher does.

Figures: frames/s of planning+insert, of publishing, and end to end (start to the last frame
published); the broker's peak `used_memory`; seconds to the first message. Targets: end to end
at least 10x the naive loop, broker peak at most 50 MB, first message within 2 s. The last line
is one JSON object with `frames`, `speedup_vs_naive`, `broker_peak_mb`, `first_message_s`.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import update
from sqlalchemy.orm import Session

from labeller.config import FeederSettings, Settings, load_settings
from labeller.jobs import Feeder, create_job
from labeller.local import EmbeddedRedis
from labeller.recordings import open_recording, write_sample
from labeller.store import Frame, FrameState, Job, JobState, Store, get_job, make_engine, upgrade
from workers import make_publisher

PREFIX = "bench"
PROVIDERS = ("openai", "anthropic")


def _settings(broker: str, db: str, depth: int) -> Settings:
    return load_settings(
        overrides={
            "broker_url": broker,
            "database_url": db,
            "key_prefix": PREFIX,
            "binning": {"window": "1ms", "keep_partial": True, "min_events": 0},
            "providers": [
                {"name": name, "model": "gpt-4o-mini", "api_key_env": None} for name in PROVIDERS
            ],
            "feeder": {"queue_depth": depth, "interval_s": 0.02},
        }
    )


def _feed(broker: str, db: str, depth: int, job_ready: Any, done: Any, out: Any) -> None:
    """Child: the workers' feeder, round after round, until the job is finished."""
    settings = _settings(broker, db, depth)
    store = Store(make_engine(db), time.time)
    publisher = make_publisher(settings)
    feeder = Feeder(store, publisher, FeederSettings(queue_depth=depth, interval_s=0.02))
    job_ready.wait()
    published, first, last = 0, None, None
    while not done.is_set():
        sent = feeder.feed_once().published
        if sent:
            now = time.time()
            first = first or now
            last = now
            published += sent
        else:
            time.sleep(0.02)
    out.put({"published": published, "first": first, "last": last})
    publisher.close()


def _drain(broker: str, db: str, job_id_box: Any, done: Any, out: Any) -> None:
    """Child: infinitely fast workers. Pop messages, mark their frames done in bulk."""
    client = redis.Redis.from_url(broker)
    engine = make_engine(db)
    first_at, drained, seen = None, 0, set()
    keys = [f"{PREFIX}:vlm.{name}" for name in PROVIDERS]
    while not done.is_set():
        frames: list[int] = []
        for key in keys:
            popped: list[bytes] = client.rpop(key, 2000) or []  # type: ignore[assignment]
            for raw in popped:
                message = json.loads(raw)
                _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                frames.append(int(kwargs["frame"]))
        if not frames:
            time.sleep(0.005)
            continue
        first_at = first_at or time.time()
        drained += len(frames)
        seen.update(frames)
        with Session(engine) as session, session.begin():
            for start in range(0, len(frames), 900):
                session.execute(
                    update(Frame)
                    .where(
                        Frame.job_id == job_id_box.value.decode(),
                        Frame.index.in_(frames[start : start + 900]),
                    )
                    .values(state=FrameState.done.value, finished_at=time.time())
                )
    out.put({"first_at": first_at, "drained": drained, "unique": len(seen)})
    engine.dispose()


def _sample_memory(client: redis.Redis, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], int(client.info("memory")["used_memory"]))
        time.sleep(0.01)


def ours(broker: str, workdir: Path, frames: int, depth: int) -> dict[str, float]:
    db = f"sqlite:///{workdir / 'ours.db'}"
    upgrade(make_engine(db))
    settings = _settings(broker, db, depth)
    recording = workdir / "rec.h5"
    if not recording.exists():
        # Two events per millisecond on average: 1 ms windows give one frame each.
        write_sample(recording, duration_s=frames / 1000, width=640, height=480, rate_hz=3e3)
    ctx = mp.get_context("spawn")
    job_ready, done = ctx.Event(), ctx.Event()
    feed_out, drain_out = ctx.Queue(), ctx.Queue()
    job_id_box: Any = ctx.Array("c", 16)
    feeder = ctx.Process(target=_feed, args=(broker, db, depth, job_ready, done, feed_out))
    drain = ctx.Process(target=_drain, args=(broker, db, job_id_box, done, drain_out))
    feeder.start()
    drain.start()
    client = redis.Redis.from_url(broker)
    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(client, stop, peak), daemon=True)
    sampler.start()
    store = Store(make_engine(db), time.time)
    time.sleep(2.0)  # both children imported and waiting

    def first_batch(count: int) -> None:
        if not job_ready.is_set():
            with Session(store.engine) as session:
                job_id = session.query(Job.id).filter(Job.state == JobState.planning).scalar()
            job_id_box.value = str(job_id).encode()
            job_ready.set()

    try:
        started = time.time()
        with open_recording(recording) as opened:
            job_id = create_job(store, settings, opened, simulated=True, on_batch=first_batch)
        planned = time.time()
        while store.has_open_frames(job_id):  # one indexed probe, not a count
            time.sleep(0.2)
    finally:
        done.set()
        job_ready.set()
    fed, drained = feed_out.get(timeout=60), drain_out.get(timeout=60)
    feeder.join()
    drain.join()
    stop.set()
    sampler.join()
    job = get_job(store.engine, job_id)
    count = job.frame_count if job is not None else 0
    store.engine.dispose()
    assert fed["published"] == count == drained["drained"], (fed, drained, count)
    return {
        "frames": count,
        "plan_insert_per_s": count / (planned - started),
        "publish_per_s": count / (fed["last"] - fed["first"]),
        "end_to_end_per_s": count / (fed["last"] - started),
        "first_message_s": drained["first_at"] - started,
        "broker_peak_mb": peak[0] / 1e6,
    }


def naive(broker: str, workdir: Path, frames: int) -> dict[str, float]:
    """One ORM insert and commit, one apply_async per frame (what a one-off script does)."""
    from celery import Celery

    db = f"sqlite:///{workdir / 'naive.db'}"
    engine = make_engine(db)
    upgrade(engine)
    app = Celery("naive", broker=broker, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": "naive:"}
    client = redis.Redis.from_url(broker)
    before = int(client.info("memory")["used_memory"])
    started = time.time()
    with Session(engine) as session:
        session.add(
            Job(id="naive", recording="r", spec="{}", state="running", frame_count=frames,
                simulated=True, created_at=started)
        )  # fmt: skip
        session.commit()
        for index in range(frames):
            session.add(
                Frame(job_id="naive", index=index, t_start_us=index * 1000,
                      t_end_us=index * 1000 + 1000, i_start=2 * index, i_end=2 * index + 2,
                      state="queued", provider="openai", updated_at=started)
            )  # fmt: skip
            session.commit()
            app.send_task(
                "label_frame",
                kwargs={"job": "naive", "frame": index, "provider": "openai"},
                queue="vlm.openai",
            )
    elapsed = time.time() - started
    grown = int(client.info("memory")["used_memory"]) - before
    client.delete(*client.keys("naive:*"))
    app.close()
    engine.dispose()
    return {"frames": frames, "per_s": frames / elapsed, "broker_mb_per_million": grown / frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--naive", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=2000, help="messages per provider queue")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="labeller-bench-enqueue-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("*.db*"):
        stale.unlink()
    with EmbeddedRedis(workdir / "redis") as broker:
        base = naive(broker.url, workdir, args.naive)
        mine = ours(broker.url, workdir, args.frames, args.depth)
    speedup = mine["end_to_end_per_s"] / base["per_s"]
    rows = [
        ("naive loop: insert + apply_async per frame", f"{base['per_s']:,.0f} frames/s"),
        ("naive loop: broker memory if all queued", f"{base['broker_mb_per_million']:,.0f} MB "
         "per million frames"),
        ("ours: planning + insert", f"{mine['plan_insert_per_s']:,.0f} frames/s"),
        ("ours: publishing (feeder, pipelined)", f"{mine['publish_per_s']:,.0f} frames/s"),
        ("ours: end to end", f"{mine['end_to_end_per_s']:,.0f} frames/s"),
        ("speedup vs naive (end to end)", f"{speedup:.1f}x   (target >= 10x)"),
        ("broker peak used_memory", f"{mine['broker_peak_mb']:.1f} MB   (target <= 50 MB)"),
        ("first message after", f"{mine['first_message_s']:.2f} s   (target <= 2 s)"),
    ]  # fmt: skip
    print(f"{mine['frames']:,} frames, queue depth {args.depth} per provider, embedded Redis")
    for name, value in rows:
        print(f"  {name:<45} {value}")
    print(
        json.dumps(
            {
                "frames": mine["frames"],
                "speedup_vs_naive": round(speedup, 2),
                "broker_peak_mb": round(mine["broker_peak_mb"], 2),
                "first_message_s": round(mine["first_message_s"], 3),
                "naive_frames_per_s": round(base["per_s"], 1),
                "plan_insert_frames_per_s": round(mine["plan_insert_per_s"], 1),
                "publish_frames_per_s": round(mine["publish_per_s"], 1),
                "end_to_end_frames_per_s": round(mine["end_to_end_per_s"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
