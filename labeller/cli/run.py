"""`labeller run` and `labeller demo`: the main job, end to end."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import yaml

from labeller.cli._common import (
    ConfigOpt,
    DatabaseOpt,
    console,
    format_duration,
    load,
    open_store,
)
from labeller.cli._session import run_frames, simulator_config
from labeller.cli._views import counting_progress
from labeller.cli.pilot import show_pilot
from labeller.config import Settings, parse_duration_us
from labeller.errors import ConfigError, UserError
from labeller.jobs import (
    PilotPlan,
    create_job,
    create_pilot,
    export_jsonl,
    pilot_report,
    read_summary,
)
from labeller.providers import missing_keys
from labeller.recordings import (
    Recording,
    open_recording,
    scan_recording,
    validate_recording,
    write_sample,
)
from labeller.store import JobSummary

__all__ = ["demo", "run"]


def _check_ready(settings: Settings, simulate: bool, detach: bool, workers: int) -> None:
    if not simulate:
        missing = missing_keys(settings.providers, os.environ)
        if missing:
            raise ConfigError(
                f"providers: environment variable(s) {', '.join(missing)} not set "
                "(or pass --simulate to try the job on the built-in simulator)"
            )
    if detach and settings.broker_url is None:
        raise UserError(
            "--detach needs a shared broker (--broker-url or LABELLER_BROKER_URL): "
            "the embedded one stops when this command ends"
        )
    if settings.broker_url is None and workers == 0:
        raise UserError("--workers 0 needs a shared broker that other workers consume from")
    if simulate and settings.simulator_url is None and (detach or workers == 0):
        raise UserError(
            "--simulate with workers elsewhere needs a simulator they can reach: start "
            "`labeller simulate` and set LABELLER_SIMULATOR_URL (here and on the workers)"
        )


def _checked_recording(path: Path, settings: Settings, *, check: bool) -> Recording:
    """Open the recording and, unless told not to, scan it once for unsorted or stray events."""
    recording = open_recording(path, settings.recording)
    try:
        if check:
            with counting_progress(
                console, "Checking", recording.event_count, "events"
            ) as advance_to:
                report = scan_recording(recording, progress=advance_to)
            validate_recording(recording, report)
    except BaseException:
        recording.close()
        raise
    return recording


def _estimated_frames(recording: Recording, settings: Settings) -> int | None:
    binning = settings.binning
    if binning.events:
        return recording.event_count // (binning.stride_events or binning.events) + 1
    span = recording.t_end_us - recording.t_start_us
    return span // (binning.stride_us or binning.window_us) + 1


def execute(
    settings: Settings,
    path: Path,
    *,
    config_path: Path | None,
    simulate: bool,
    workers: int | None,
    detach: bool,
    check: bool = True,
    pilot: int | None = None,
) -> tuple[str, JobSummary | None]:
    """Validate everything, then create the job, publish its frames and (unless detached) wait.

    With `pilot`, the job is a pilot of that many frames, each captioned by every provider.
    """
    if pilot is not None and detach:
        raise UserError("--pilot waits for its frames to report on them: it cannot --detach")
    local_workers = (
        workers if workers is not None else (settings.workers if settings.broker_url is None else 0)
    )
    _check_ready(settings, simulate, detach, local_workers)
    simulator_config(settings.simulator)
    recording = _checked_recording(path, settings, check=check)
    store = open_store(settings)
    created: list[str] = []

    def publish_pilot(note_job: Callable[[str], None], sample: int) -> int:
        estimate = _estimated_frames(recording, settings)
        with counting_progress(console, "Sampling", estimate, "frames") as advance_to:
            plan = create_pilot(
                store,
                settings,
                recording,
                sample=sample,
                simulated=simulate,
                progress=lambda window: advance_to(window.index + 1),
            )
            # Noted at once, inside the progress bar: a SIGTERM while it closes must still
            # name the job in its "continue with" hint.
            note_job(plan.job_id)
        created.append(plan.job_id)
        console.print(_pilot_text(plan, sample, path))
        if simulate:
            console.print("[yellow]simulated providers: captions are synthetic[/]")
        return plan.sample * len(plan.providers)

    def publish(note_job: Callable[[str], None]) -> int:
        if pilot is not None:
            return publish_pilot(note_job, pilot)
        estimate = _estimated_frames(recording, settings)
        with counting_progress(console, "Planning", estimate, "frames") as advance_to:
            job_id = create_job(
                store,
                settings,
                recording,
                simulated=simulate,
                progress=lambda window: advance_to(window.index + 1),
            )
            note_job(job_id)  # at once, as above
        created.append(job_id)
        summary = read_summary(store, job_id)
        console.print(
            f"job [bold]{job_id}[/]: {summary.frame_count:,} frames ({_binning_text(settings)}) "
            f"from {path}" + (f", {summary.skipped:,} skipped" if summary.skipped else "")
        )
        if simulate:
            console.print("[yellow]simulated providers: captions are synthetic[/]")
        return summary.frame_count - summary.skipped

    try:
        summary = run_frames(
            settings,
            store,
            config_path=config_path,
            simulator=settings.simulator if simulate else None,
            workers=local_workers,
            detach=detach,
            publish=publish,
        )
    finally:
        recording.close()
        store.engine.dispose()
    return created[0], summary


def _pilot_text(plan: PilotPlan, asked: int, path: Path) -> str:
    text = (
        f"pilot job [bold]{plan.job_id}[/]: {plan.sample:,} of the {plan.full_sent:,} frames "
        f"of {path}, spread evenly, each captioned by {', '.join(plan.providers)} "
        f"({plan.sample * len(plan.providers):,} frames in all)"
    )
    if asked > plan.sample:
        text += f"\n[yellow]--pilot {asked:,} is more than the recording's frames: all are used[/]"
    return text


def _binning_text(settings: Settings) -> str:
    binning = settings.binning
    if binning.events:
        return f"{binning.events:,} events each"
    return f"{format_duration(binning.window_us)} each"


def run(
    recording: Annotated[Path, typer.Argument(help="HDF5 event recording.", metavar="RECORDING")],
    config: ConfigOpt = None,
    window: Annotated[str | None, typer.Option(help="Frame length [default: 50ms].")] = None,
    events: Annotated[
        int | None, typer.Option(min=1, help="Events per frame: bin by count instead of time.")
    ] = None,
    stride: Annotated[
        str | None,
        typer.Option(help="Distance between frame starts (duration, or events with --events)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Skip the recording's first part, e.g. 2s.")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Stop this far into the recording, e.g. 30s.")
    ] = None,
    min_events: Annotated[
        int | None, typer.Option(min=0, help="Frames with fewer events are skipped, not sent.")
    ] = None,
    keep_partial: Annotated[
        bool, typer.Option("--keep-partial", help="Keep the last, shorter frame.")
    ] = False,
    render: Annotated[
        str | None, typer.Option(help="histogram, counts or time-surface [default: histogram].")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="png or jpeg [default: png].")] = None,
    quality: Annotated[int | None, typer.Option(min=1, max=100, help="JPEG quality.")] = None,
    max_side: Annotated[
        int | None, typer.Option(min=1, help="Downscale so the longer side fits.")
    ] = None,
    format_name: Annotated[
        str | None,
        typer.Option("--format", help="Force a layout: dsec, prophesee, mvsec, e2vid, m3ed."),
    ] = None,
    camera: Annotated[str | None, typer.Option(help="left or right (MVSEC, M3ED).")] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Serve the providers from the built-in simulator.")
    ] = False,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[
        str | None, typer.Option(help="Celery broker (default: embedded Redis, local workers).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Local worker processes [default: 2 without a broker]."),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Return once the frames are queued (needs a broker).")
    ] = False,
    budget: Annotated[
        float | None,
        typer.Option(min=0.01, help="Pause the job when its spend reaches this (USD)."),
    ] = None,
    skip_check: Annotated[
        bool, typer.Option("--skip-check", help="Do not scan the recording for unsorted events.")
    ] = False,
    pilot: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Caption only N frames spread over the recording, each with every provider, "
            "and report latency, 429s, cost, agreement and the full job's extrapolated cost.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="With --pilot: its report as JSON on stdout (rest on stderr)."),
    ] = False,
) -> None:
    """Caption every frame of RECORDING; prints the job id and waits with a progress bar."""
    if as_json and pilot is None:
        raise UserError("--json goes with --pilot (a full job's figures: labeller status --json)")
    settings = load(
        config,
        database_url=database_url,
        broker_url=broker_url,
        budget_usd=budget,
        binning=_given(
            window=window,
            events=events,
            stride=stride,
            start=start,
            end=end,
            min_events=min_events,
            keep_partial=keep_partial or None,
        ),
        render=_given(mode=render, encoding=encoding, jpeg_quality=quality, max_side=max_side),
        recording=_given(format=format_name, camera=camera),
    )
    with _human_output(to_stderr=as_json):
        job_id, summary = execute(
            settings,
            recording,
            config_path=config,
            simulate=simulate,
            workers=workers,
            detach=detach,
            check=not skip_check,
            pilot=pilot,
        )
        if pilot is not None and summary is not None:
            store = open_store(settings)
            try:
                report = pilot_report(store.engine, job_id)
            finally:
                store.engine.dispose()
            show_pilot(report, as_json=as_json)
        console.print(f"job id: {job_id}")
    if summary is not None and not summary.succeeded:
        raise typer.Exit(1)


@contextmanager
def _human_output(*, to_stderr: bool) -> Iterator[None]:
    """Send what people read to stderr while stdout carries JSON."""
    if not to_stderr:
        yield
        return
    stdout = console.file
    console.file = sys.stderr
    try:
        yield
    finally:
        console.file = stdout


def _given(**values: object) -> dict[str, object] | None:
    """The flags a person actually gave, as a nested override (None when none were)."""
    given = {k: v for k, v in values.items() if v is not None}
    return given or None


#: The demo's two providers: the stingy one's real (simulated) limit is below our offered load.
DEMO_SIMULATOR = {
    "seed": 7,
    "models": {
        "gpt-4o-mini": {"latency_ms": 250, "latency_jitter_ms": 100, "rpm": 90},
        "llava-v1.6-34b": {"latency_ms": 400, "latency_jitter_ms": 150},
    },
}


def _demo_config(output: Path) -> dict[str, object]:
    return {
        "database_url": f"sqlite:///{(output / 'labeller.db').resolve()}",
        "binning": {"window": "50ms", "keep_partial": True},
        "providers": [
            {
                "name": "openai",
                "model": "gpt-4o-mini",
                "api_key_env": "OPENAI_API_KEY",
                "weight": 0.6,
                "rpm": 500,
                "fallback": ["local"],
            },
            {
                "name": "local",
                "model": "llava-v1.6-34b",
                "base_url": "http://localhost:8000/v1",
                "api_key_env": None,
                "weight": 0.4,
                "fallback": ["openai"],
            },
        ],  # fmt: skip
        "simulator": DEMO_SIMULATOR,
    }


def demo(
    output: Annotated[Path, typer.Option(help="Where the demo's files go.")] = Path("demo-output"),
    duration: Annotated[str, typer.Option(help="Length of the sample recording.")] = "10s",
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 2,
) -> None:
    """Sample recording, embedded Redis, simulator, two workers: a whole job in one command."""
    started = time.monotonic()
    output.mkdir(parents=True, exist_ok=True)
    for stale in output.glob("labeller.db*"):  # each demo starts from an empty database
        stale.unlink()
    config_path = output / "labeller.yaml"
    config_path.write_text(yaml.safe_dump(_demo_config(output), sort_keys=False))
    recording = output / "sample.h5"
    duration_s = parse_duration_us(duration) / 1e6
    info = write_sample(recording, duration_s=duration_s, rate_hz=5e5, seed=1)
    console.print(
        f"wrote {recording}: {info.events:,} events, {info.duration_s:g} s, "
        f"{info.width}x{info.height}"
    )
    settings = load(config_path)
    job_id, summary = execute(
        settings, recording, config_path=config_path, simulate=True, workers=workers, detach=False
    )
    if summary is None:  # only a detached run has none
        raise typer.Exit(1)
    store = open_store(settings)
    captions = output / "captions.jsonl"
    count = export_jsonl(store.engine, job_id, captions)
    store.engine.dispose()
    first = captions.read_text().splitlines()[:1]
    if first:
        console.print(f"first caption: {json.loads(first[0])['caption']}")
    console.print(
        f"demo: {count} captions in {captions}, database {output / 'labeller.db'}, "
        f"{time.monotonic() - started:.1f} s in all"
    )
    if not summary.succeeded:
        raise typer.Exit(1)
