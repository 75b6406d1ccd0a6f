"""Binning and rendering throughput: labeller against tonic's ToFrame and a bare np.bincount.

    python benchmarks/bench_frames.py [--events 2e7] [--quick] [--dir /tmp/labeller-bench]

Binning, as measured here, is the step that turns a window's events (x, y, p columns) into
per-pixel, per-polarity event counts: `labeller.frames.bin_events`, tonic's `ToFrame`, or one
`np.bincount`. Not included: planning the windows, colouring, the saturation percentile (both
rendering) and, except in the "read + bin" row, reading the events from the file.

One synthetic DSEC file (640x480, Blosc/zstd as DSEC ships, `RATE_HZ` events/s) is written once
per size and cached in `--dir`. Every contender bins the same full 50 ms windows (the planned
`[t0, t1)` tiles; tonic gets the same `start_time`/`end_time`, so its slices are ours):

- labeller bin: `bin_events` per window on the window's slice of columns already in memory.
- labeller read + bin: per window, `Recording.read(i0, i1)` from the file, then `bin_events`:
  what a worker does. The HDF5 decompression is counted here and in no other row.
- tonic ToFrame: `ToFrame(sensor_size=(W, H, 2), time_window=50_000)` on a structured array
  (x u2, y u2, t i8, p u1) of the same events in memory, all windows in one call.
- bare np.bincount (the floor): one call over every event's raveled (window, p, y, x) index,
  built beforehand and not timed; building it is timed on its own line for reference. Its
  output holds every window at once (~1 GB of int64 at 2e7 events), and touching that much
  fresh memory costs more than the counting, so a stricter floor is added: one bare
  `np.bincount` per window over the same prebuilt index (`bincount_per_window`).

Rendering + encoding, frames/s on the first `--frames` windows: labeller `render` (histogram,
RGB) + `encode(png)`, against tonic ToFrame + the plainest RGB view of its counts (ON in red,
OFF in blue, clipped at 255) + Pillow PNG. Both PNGs use compress_level 1 on 640x480 RGB;
ToFrame's time is shared out over the frames. Each figure is the best of `--repeat` runs.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from labeller.config import RenderSettings
from labeller.frames import Window, bin_events, encode, plan_time_windows, render
from labeller.recordings import Events, Recording, open_recording, write_sample

#: Events per second of the synthetic recording (2e6: ~1e5 events per 50 ms window).
RATE_HZ = 2e6
#: Window length (µs), the default `binning.window`.
WINDOW_US = 50_000
WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class Row:
    step: str
    contender: str
    rate: float
    unit: str
    note: str = ""


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """Fastest of `repeat` timed runs after one untimed warm-up (s)."""
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def sample(directory: Path, events: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"frames-dsec-{events}-{int(RATE_HZ)}.h5"
    if not path.exists():
        partial = path.with_suffix(".part")
        write_sample(partial, duration_s=events / RATE_HZ, rate_hz=RATE_HZ, seed=3)
        partial.rename(path)
    return path


def window_slice(events: Events, w: Window) -> Events:
    s = slice(w.i_start, w.i_end)
    return Events(x=events.x[s], y=events.y[s], p=events.p[s], t_us=events.t_us[s])


def structured(events: Events) -> NDArray[Any]:
    dtype = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
    array = np.empty(len(events), dtype=dtype)
    array["x"], array["y"], array["t"], array["p"] = events.x, events.y, events.t_us, events.p
    return array


def floor_index(events: Events, windows: list[Window]) -> NDArray[np.intp]:
    """Raveled (window, p, y, x) index of every event in a window."""
    lengths = np.array([w.event_count for w in windows])
    span = slice(windows[0].i_start, windows[-1].i_end)
    index = np.repeat(np.arange(len(windows), dtype=np.intp), lengths)
    for column, size in ((events.p[span], 2), (events.y[span], HEIGHT), (events.x[span], WIDTH)):
        index *= size
        index += column
    return index


@dataclass(frozen=True)
class Binned:
    """What the rendering step reuses: events/s per contender, tonic's frames, the events."""

    rate: dict[str, float]
    tonic_frames: NDArray[Any]
    events: Events


def bench_binning(rec: Recording, windows: list[Window], repeat: int) -> tuple[list[Row], Binned]:
    import tonic

    def labeller_read_bin() -> None:
        for w in windows:
            bin_events(rec.read(w.i_start, w.i_end), WIDTH, HEIGHT)

    # First, as a worker would run it: an earlier read of the whole file changes how fast later
    # small reads go (allocator and HDF5 cache state), which no worker enjoys.
    seconds = {"labeller_read": best_of(repeat, labeller_read_bin)}
    events = rec.read(0, rec.event_count)
    n_binned = sum(w.event_count for w in windows)
    to_frame = tonic.transforms.ToFrame(
        sensor_size=(WIDTH, HEIGHT, 2),
        time_window=WINDOW_US,
        start_time=windows[0].t_start_us,
        end_time=windows[-1].t_end_us,
    )
    table = structured(events)
    tonic_frames = to_frame(table)
    assert tonic_frames.shape == (len(windows), 2, HEIGHT, WIDTH), tonic_frames.shape
    for i in (0, len(windows) // 2, len(windows) - 1):
        ours = bin_events(window_slice(events, windows[i]), WIDTH, HEIGHT)
        np.testing.assert_array_equal(tonic_frames[i], ours)
    index = floor_index(events, windows)
    frame = 2 * HEIGHT * WIDTH
    offsets = np.cumsum([0] + [w.event_count for w in windows])
    per_window = [index[a:b] - i * frame for i, (a, b) in enumerate(itertools.pairwise(offsets))]

    def bincount_per_window() -> None:
        for part in per_window:
            np.bincount(part, minlength=frame)

    def labeller_bin() -> None:
        for w in windows:
            bin_events(window_slice(events, w), WIDTH, HEIGHT)

    seconds |= {
        "labeller": best_of(repeat, labeller_bin),
        "tonic": best_of(repeat, lambda: to_frame(table)),
        "bincount": best_of(repeat, lambda: np.bincount(index, minlength=len(windows) * frame)),
        "bincount_per_window": best_of(repeat, bincount_per_window),
        "index": best_of(repeat, lambda: floor_index(events, windows)),
    }
    rate = {name: n_binned / s for name, s in seconds.items()}
    rows = [
        Row("bin", "labeller bin_events", rate["labeller"], "ev/s", "per window, in memory"),
        Row("bin", "labeller read + bin", rate["labeller_read"], "ev/s", "per window, from HDF5"),
        Row("bin", "tonic ToFrame", rate["tonic"], "ev/s", "all windows, in memory"),
        Row("bin", "np.bincount (floor)", rate["bincount"], "ev/s", "one call, index prebuilt"),
        Row("bin", "  building its index", rate["index"], "ev/s", "not in the floor"),
        Row("bin", "np.bincount per window", rate["bincount_per_window"], "ev/s", "index prebuilt"),
    ]
    return rows, Binned(rate, tonic_frames, events)


def bench_render(
    windows: list[Window], binned: Binned, repeat: int, frames: int
) -> tuple[list[Row], dict[str, float]]:
    chosen, events = windows[:frames], binned.events
    histogram = RenderSettings()
    counts = RenderSettings(mode="counts")
    # ToFrame bins all windows in one call: each frame bears its share, at the measured rate.
    to_frame_s = sum(w.event_count for w in chosen) / binned.rate["tonic"]

    def labeller(options: RenderSettings) -> Callable[[], None]:
        def run() -> None:
            for w in chosen:
                image = render(window_slice(events, w), WIDTH, HEIGHT, options, t_end_us=w.t_end_us)
                encode(image, "png")

        return run

    def tonic_png() -> None:
        for frame in binned.tonic_frames[: len(chosen)]:
            clipped = np.minimum(frame, 255).astype(np.uint8)
            rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
            rgb[:, :, 0], rgb[:, :, 2] = clipped[1], clipped[0]
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)

    k = len(chosen)
    fps = {
        "labeller": k / best_of(repeat, labeller(histogram)),
        "labeller_counts": k / best_of(repeat, labeller(counts)),
        "tonic": k / (best_of(repeat, tonic_png) + to_frame_s),
    }
    rows = [
        Row("render+png", "labeller histogram", fps["labeller"], "frame/s", "RGB, PNG level 1"),
        Row(
            "render+png", "labeller counts", fps["labeller_counts"], "frame/s", "gray, PNG level 1"
        ),
        Row("render+png", "tonic ToFrame + Pillow", fps["tonic"], "frame/s", "RGB, PNG level 1"),
    ]
    return rows, fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, default=2e7)
    parser.add_argument("--quick", action="store_true", help="2e6 events, one run each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60, help="windows rendered and encoded")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "labeller-bench")
    args = parser.parse_args()
    n_events = int(2e6 if args.quick else args.events)
    repeat = 1 if args.quick else args.repeat
    frames = min(args.frames, 20) if args.quick else args.frames

    with open_recording(sample(args.dir, n_events)) as rec:
        windows = list(plan_time_windows(rec, WINDOW_US))
        bin_rows, binned = bench_binning(rec, windows, repeat)
        render_rows, fps = bench_render(windows, binned, repeat, frames)
        rate = binned.rate
        n_binned = sum(w.event_count for w in windows)

    print(f"{n_binned:,} events in {len(windows)} windows of {WINDOW_US // 1000} ms, "
          f"{WIDTH}x{HEIGHT}, {n_binned / len(windows):,.0f} events/window")  # fmt: skip
    print(f"{'step':<12}{'contender':<26}{'rate':>16}  {'unit':<8}note")
    for row in bin_rows + render_rows:
        print(f"{row.step:<12}{row.contender:<26}{row.rate:>16,.0f}  {row.unit:<8}{row.note}")
    figures = {
        "speedup_vs_tonic": round(rate["labeller"] / rate["tonic"], 2),
        "slowdown_vs_bincount": round(rate["bincount"] / rate["labeller"], 2),
        "speedup_vs_tonic_with_read": round(rate["labeller_read"] / rate["tonic"], 2),
        "slowdown_vs_bincount_with_read": round(rate["bincount"] / rate["labeller_read"], 2),
        "slowdown_vs_bincount_per_window": round(rate["bincount_per_window"] / rate["labeller"], 2),
        "render_speedup_vs_tonic": round(fps["labeller"] / fps["tonic"], 2),
        "events": n_binned,
        "windows": len(windows),
        "events_per_s": {name: round(value) for name, value in rate.items()},
        "frames_per_s": {name: round(value, 1) for name, value in fps.items()},
    }
    print("targets: speedup_vs_tonic >= 3, slowdown_vs_bincount <= 1.5 (binning, in memory)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
