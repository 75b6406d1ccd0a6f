"""Plan 10 ms frames over a 2e8-event DSEC recording and report time and peak memory.

    python benchmarks/bench_plan.py [--events 2e8] [--window 10ms] [--dir /tmp/labeller-bench]

The recording (Blosc/zstd compressed, as DSEC ships) is written once and reused. Planning runs
in a fresh child process so its peak RSS is its own: it opens the file, streams the windows
into a job's Frame rows in a SQLite database, and, separately, scans every event once (the
check `labeller run` does before planning). Target: peak RSS under 300 MB whatever the size.
The last line is one JSON object: events, frames, seconds, peak_rss_mb (planning), plus the
scan's figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Events per second of the synthetic recording; the duration follows from --events.
RATE_HZ = 2e6


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(path: Path, window: str, what: str) -> None:
    """Runs in the child: one measured step, its figures as JSON on stdout."""
    from sqlalchemy import text

    from labeller.config import load_settings
    from labeller.jobs import create_job
    from labeller.recordings import open_recording, scan_recording
    from labeller.store import Store, make_engine, upgrade

    settings = load_settings(overrides={"binning": {"window": window, "keep_partial": True}})
    with open_recording(path) as recording:
        started = time.perf_counter()
        if what == "plan":
            with tempfile.TemporaryDirectory() as tmp:
                engine = make_engine(f"sqlite:///{tmp}/plan.db")
                upgrade(engine)
                store = Store(engine, time.time)
                job_id = create_job(store, settings, recording, simulated=True)
                with engine.connect() as conn:
                    frames = conn.execute(
                        text("SELECT frame_count FROM jobs WHERE id = :id"), {"id": job_id}
                    ).scalar_one()
                engine.dispose()
            figures: dict[str, object] = {"frames": int(frames)}
        else:
            report = scan_recording(recording)
            figures = {"sorted": report.sorted}
        figures.update(
            events=recording.event_count,
            seconds=round(time.perf_counter() - started, 3),
            peak_rss_mb=round(_peak_rss_mb(), 1),
        )
    print(json.dumps(figures))


def _measure(path: Path, window: str, what: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, "--path", str(path), "--window", window],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, default=2e8)
    parser.add_argument("--window", default="10ms")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "labeller-bench")
    parser.add_argument("--child", choices=["plan", "scan"])
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    if args.child:
        _child(args.path, args.window, args.child)
        return

    from labeller.recordings import write_sample

    events = int(args.events)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"dsec-{events}.h5"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".part")
        write_sample(partial, duration_s=events / RATE_HZ, rate_hz=RATE_HZ, seed=11)
        partial.rename(path)
        print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    plan = _measure(path, args.window, "plan")
    scan = _measure(path, args.window, "scan")
    print(f"{'step':<8}{'events':>14}{'frames':>10}{'seconds':>10}{'peak RSS MB':>14}")
    print(f"{'plan':<8}{plan['events']:>14,}{plan['frames']:>10,}{plan['seconds']:>10}"
          f"{plan['peak_rss_mb']:>14}")  # fmt: skip
    print(f"{'scan':<8}{scan['events']:>14,}{'':>10}{scan['seconds']:>10}"
          f"{scan['peak_rss_mb']:>14}")  # fmt: skip
    print("target: planning peak RSS under 300 MB")
    print(
        json.dumps(
            {
                "events": plan["events"],
                "frames": plan["frames"],
                "seconds": plan["seconds"],
                "peak_rss_mb": plan["peak_rss_mb"],
                "scan_seconds": scan["seconds"],
                "scan_peak_rss_mb": scan["peak_rss_mb"],
            }
        )
    )


if __name__ == "__main__":
    main()
