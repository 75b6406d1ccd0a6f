"""`labeller run` and `labeller demo`: the main job, end to end."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
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
from labeller.config import Settings
from labeller.errors import ConfigError, UserError
from labeller.frames import parse_duration_us
from labeller.jobs import Publisher, create_job, export_jsonl, read_summary, requeue_pending
from labeller.providers import missing_keys
from labeller.recordings import open_recording, write_sample
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


def execute(
    settings: Settings,
    recording: Path,
    *,
    config_path: Path | None,
    simulate: bool,
    workers: int | None,
    detach: bool,
) -> tuple[str, JobSummary | None]:
    """Validate everything, then create the job, publish its frames and (unless detached) wait."""
    window_us = parse_duration_us(settings.window)
    local_workers = (
        workers if workers is not None else (settings.workers if settings.broker_url is None else 0)
    )
    _check_ready(settings, simulate, detach, local_workers)
    simulator_config(settings.simulator)
    with open_recording(recording):
        pass  # fail on a bad file before anything starts or is written
    store = open_store(settings)
    created: list[str] = []

    def publish(publisher: Publisher, note_job: Callable[[str], None]) -> int:
        job_id = create_job(
            store,
            settings,
            recording,
            window_us=window_us,
            simulated=simulate,
            simulator=settings.simulator if simulate else None,
        )
        created.append(job_id)
        note_job(job_id)
        frames = read_summary(store, job_id).frame_count
        console.print(
            f"job [bold]{job_id}[/]: {frames} frames of {format_duration(window_us)} "
            f"from {recording}"
        )
        if simulate:
            console.print("[yellow]simulated providers: captions are synthetic[/]")
        return requeue_pending(store, publisher, job_id)

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
        store.engine.dispose()
    return created[0], summary


def run(
    recording: Annotated[Path, typer.Argument(help="HDF5 event recording (DSEC layout).")],
    config: ConfigOpt = None,
    window: Annotated[str | None, typer.Option(help="Frame length, e.g. 50ms.")] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Serve the providers from the built-in simulator.")
    ] = False,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[
        str | None, typer.Option(help="Celery broker (default: embedded Redis, local workers).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Local worker processes to start.")
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Return once the frames are queued (needs a broker).")
    ] = False,
) -> None:
    """Caption every time window of RECORDING; prints the job id and waits with a progress bar."""
    settings = load(config, database_url=database_url, broker_url=broker_url, window=window)
    job_id, summary = execute(
        settings, recording, config_path=config, simulate=simulate, workers=workers, detach=detach
    )
    console.print(f"job id: {job_id}")
    if summary is not None and summary.done != summary.frame_count:
        raise typer.Exit(1)


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
        "window": "50ms",
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
    if summary.done != summary.frame_count:
        raise typer.Exit(1)
