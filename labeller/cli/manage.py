"""Commands around a job: status, requeue, export; and the services: simulate, worker, db."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from labeller.cli._common import ConfigOpt, DatabaseOpt, console, load, open_store, require_job
from labeller.cli._session import run_frames, simulator_config
from labeller.cli._views import summary_json, summary_table
from labeller.config import JobSpec
from labeller.errors import UserError
from labeller.frames import parse_duration_us
from labeller.jobs import (
    Publisher,
    export_jsonl,
    rates,
    read_summary,
    requeue_failed,
    requeue_stale,
)
from labeller.local import worker_command
from labeller.recordings import write_sample
from labeller.simulator import SimulatorServer, load_simulator_config
from labeller.store import upgrade

__all__ = ["db_upgrade", "export", "requeue", "sample", "simulate", "status", "worker"]


def status(
    job: Annotated[str, typer.Argument(help="Job id, as `labeller run` printed it.")],
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Frames by state, per-provider attempts, 429s, tokens and cost, throughput and ETA."""
    store = open_store(load(config, database_url=database_url))
    row = require_job(store, job)
    store.finish_job_if_complete(job)
    summary = read_summary(store, job)
    now = time.time()
    if as_json:
        typer.echo(json.dumps(summary_json(summary, now), indent=2))
        return
    console.print(summary_table(summary, JobSpec.model_validate_json(row.spec), now))
    counts = ", ".join(f"{state} {n}" for state, n in sorted(summary.counts.items()))
    eta_s = rates(summary, now).eta_s if summary.state == "running" else None
    console.print(f"frames: {counts}" + (f"; ETA {eta_s:.0f} s" if eta_s is not None else ""))


def requeue(
    job: Annotated[str, typer.Argument(help="Job id.")],
    failed: Annotated[bool, typer.Option("--failed", help="Retry failed frames.")] = False,
    stale: Annotated[
        str | None,
        typer.Option(help="Re-send frames pending, queued or running longer than this (e.g. 10m)."),
    ] = None,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[str | None, typer.Option(help="Celery broker of the workers.")] = None,
    workers: Annotated[int | None, typer.Option(min=0, help="Local workers to start.")] = None,
) -> None:
    """Re-enqueue failed frames, or frames whose message was lost; prints how many."""
    if not failed and stale is None:
        raise UserError("requeue: say which frames: --failed, --stale 10m, or both")
    stale_s = parse_duration_us(stale) / 1e6 if stale is not None else None
    settings = load(config, database_url=database_url, broker_url=broker_url)
    store = open_store(settings)
    row = require_job(store, job)
    local = settings.broker_url is None

    def publish(publisher: Publisher, note_job: Callable[[str], None]) -> None:
        note_job(job)
        total = requeue_failed(store, publisher, job) if failed else 0
        if stale_s is not None:
            total += requeue_stale(store, publisher, job, stale_s)
        console.print(f"requeued {total} frames of job {job}")

    summary = run_frames(
        settings,
        store,
        config_path=config,
        simulate=row.simulated,
        workers=workers if workers is not None else (settings.workers if local else 0),
        detach=not local,
        publish=publish,
    )
    if summary is not None and summary.done != summary.frame_count:
        raise typer.Exit(1)


def export(
    job: Annotated[str, typer.Argument(help="Job id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.jsonl).")],
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Write the job's captions, one JSON object per frame, in frame order."""
    store = open_store(load(config, database_url=database_url))
    require_job(store, job)
    count = export_jsonl(store.engine, job, output)
    console.print(f"wrote {count} captions to {output}")


def simulate(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8808,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    config: Annotated[
        Path | None, typer.Option("--config", "-C", help="Simulator YAML (models: ...).")
    ] = None,
) -> None:
    """Serve the provider simulator (OpenAI wire format) until Ctrl-C."""
    server = SimulatorServer(load_simulator_config(config), host=host, port=port)
    console.print(f"simulator listening on http://{host}:{port}/v1 (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("simulator stopped")


def worker(
    queues: Annotated[
        str | None, typer.Option("--queues", "-Q", help="Comma-separated (default: every vlm.*).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1)] = None,
    config: ConfigOpt = None,
) -> None:
    """Run a Celery worker for this machine (same as `celery -A workers.app worker`)."""
    settings = load(config)
    simulator_config(settings)
    names = queues.split(",") if queues else [f"vlm.{p.name}" for p in settings.providers]
    command = worker_command(
        names, concurrency=concurrency or settings.worker_concurrency, name="labeller"
    )
    env = dict(os.environ)
    if config is not None:
        env["LABELLER_CONFIG"] = str(config.resolve())
    os.execve(command[0], command, env)


def db_upgrade(config: ConfigOpt = None, database_url: DatabaseOpt = None) -> None:
    """Apply the Alembic migrations up to the newest schema."""
    store = open_store(load(config, database_url=database_url), migrate=False)
    upgrade(store.engine)
    console.print("database schema is up to date")


def _resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--resolution: expected WIDTHxHEIGHT like 640x480, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise UserError(f"--resolution: width and height must be positive, got {text!r}")
    return width, height


def sample(
    output: Annotated[Path, typer.Argument(help="HDF5 file to write (DSEC layout).")],
    duration: Annotated[str, typer.Option(help="Length, e.g. 10s.")] = "10s",
    resolution: Annotated[str, typer.Option(help="WIDTHxHEIGHT.")] = "640x480",
    rate: Annotated[float, typer.Option(help="Events per second.")] = 1e6,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a synthetic recording with moving shapes, so consecutive frames differ."""
    width, height = _resolution(resolution)
    if rate <= 0:
        raise UserError(f"--rate: must be positive, got {rate}")
    info = write_sample(
        output,
        duration_s=parse_duration_us(duration) / 1e6,
        width=width,
        height=height,
        rate_hz=rate,
        seed=seed,
    )
    console.print(
        f"wrote {output}: {info.events:,} events, {info.duration_s:g} s, {width}x{height}"
    )
