"""Commands around a job: status, requeue, resume; and the services: simulate, worker, db."""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from labeller.cli._common import ConfigOpt, DatabaseOpt, console, load, open_store, require_job
from labeller.cli._session import PublishStep, run_frames, simulator_config
from labeller.cli._views import summary_json, summary_table
from labeller.cli.watch import watch_job
from labeller.config import JobSpec, Settings, parse_duration_us
from labeller.errors import UserError
from labeller.jobs import (
    rates,
    read_summary,
    requeue_failed,
    requeue_stale,
)
from labeller.local import worker_command
from labeller.recordings import write_sample
from labeller.simulator import SimulatorServer, load_simulator_config
from labeller.store import Store, failure_reasons

__all__ = [
    "db_upgrade",
    "requeue",
    "resume",
    "sample",
    "simulate",
    "status",
    "worker",
]


def status(
    job: Annotated[str, typer.Argument(help="Job id, as `labeller run` printed it.")],
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Live view until the job ends (Ctrl-C stops).")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.2, help="Seconds between refreshes of --watch.")
    ] = 1.5,
    redis_url: Annotated[
        str | None,
        typer.Option(help="The workers' limiter Redis for --watch (default: $LABELLER_REDIS_URL)."),
    ] = None,
) -> None:
    """Frames by state, per-provider attempts, 429s, tokens and cost, throughput and ETA."""
    settings = load(config, database_url=database_url, redis_url=redis_url)
    store = open_store(settings, create=False)
    row = require_job(store, job)
    if watch:
        spec = JobSpec.model_validate_json(row.spec)
        watch_job(
            store,
            job,
            spec,
            console=console,
            redis_url=settings.limiter_redis_url(),
            key_prefix=settings.key_prefix,
            interval_s=interval,
            as_json=as_json,
        )
        return
    store.finish_job_if_complete(job)
    summary = read_summary(store, job)
    failures = failure_reasons(store.engine, job)
    now = time.time()
    spec = JobSpec.model_validate_json(row.spec)
    if as_json:
        figures = summary_json(summary, now)
        figures["failures"] = [{"error": error, "frames": n} for error, n in failures]
        figures["prompt"] = {"hash": row.prompt_hash, "text": spec.prompt}
        typer.echo(json.dumps(figures, indent=2))
        return
    console.print(summary_table(summary, spec, now))
    # The template as stored: two jobs over one recording differ by it; `--json` has it whole.
    prompt = textwrap.shorten(spec.prompt, max(40, console.width - 22), placeholder=" …")
    console.print(f"prompt {(row.prompt_hash or '-')[:12]}: {escape(prompt)}", highlight=False)
    counts = ", ".join(f"{state} {n}" for state, n in sorted(summary.counts.items()))
    rate = rates(summary, now)
    console.print(f"frames: {counts}" + (f"; ETA {rate.eta_s:.0f} s" if rate.eta_s else ""))
    if rate.stalled and rate.idle_s is not None:
        console.print(
            f"[yellow]no frame has finished for {rate.idle_s:.0f} s: are workers running? "
            f"`labeller requeue {job} --stale 10m` re-sends frames whose message was lost"
        )
    for error, n in failures:
        console.print(f"[red]failed[/] {n} frame(s): {escape(error)}", highlight=False)


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
    store = open_store(settings, create=False)
    spec = JobSpec.model_validate_json(require_job(store, job).spec)

    def publish(note_job: Callable[[str], None]) -> int:
        note_job(job)
        total = requeue_failed(store, job) if failed else 0
        if stale_s is not None:
            total += requeue_stale(store, job, stale_s)
        console.print(f"requeued {total} frames of job {job}")
        return total

    _send_again(settings, store, spec, config=config, workers=workers, publish=publish)


def _send_again(
    settings: Settings,
    store: Store,
    spec: JobSpec,
    *,
    config: Path | None,
    workers: int | None,
    publish: PublishStep,
) -> None:
    """Re-send an existing job's frames: with local workers and a wait when there is no shared
    broker (simulating again if the job was simulated), else publish and return."""
    local = settings.broker_url is None
    summary = run_frames(
        settings,
        store,
        config_path=config,
        simulator=(spec.simulator or {}) if spec.simulated else None,
        workers=workers if workers is not None else (settings.workers if local else 0),
        detach=not local,
        publish=publish,
    )
    if summary is not None and not summary.succeeded:
        raise typer.Exit(1)


def resume(
    job: Annotated[str, typer.Argument(help="Job id of a paused job.")],
    budget: Annotated[
        float | None, typer.Option(min=0.01, help="New spend limit in USD (default: none).")
    ] = None,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[str | None, typer.Option(help="Celery broker of the workers.")] = None,
    workers: Annotated[int | None, typer.Option(min=0, help="Local workers to start.")] = None,
) -> None:
    """Continue a job paused at its budget: its pending frames are sent again."""
    settings = load(config, database_url=database_url, broker_url=broker_url)
    store = open_store(settings, create=False)
    spec = JobSpec.model_validate_json(require_job(store, job).spec)
    store.resume_job(job, spec.model_copy(update={"budget_usd": budget}).model_dump_json())

    def publish(note_job: Callable[[str], None]) -> int:
        note_job(job)
        # The feeder sends the parked (pending) frames again; frames whose message died with a
        # local broker when the job paused are found by the feeder's broker check.
        total = read_summary(store, job).counts
        waiting = sum(total.get(state, 0) for state in ("pending", "queued"))
        limit = f"budget {budget} USD" if budget is not None else "no budget"
        console.print(f"resumed job {job} with {limit}: {waiting} frames to send")
        return waiting

    _send_again(settings, store, spec, config=config, workers=workers, publish=publish)


def simulate(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8808,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    config: Annotated[
        Path | None, typer.Option("--config", "-C", help="Simulator YAML (models: ...).")
    ] = None,
) -> None:
    """Serve the provider simulator (OpenAI, Anthropic, Gemini and Vertex formats) until Ctrl-C."""
    if not 0 < port < 65536:
        raise UserError(f"--port: must be between 1 and 65535, got {port}")
    server = SimulatorServer(load_simulator_config(config), host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        raise UserError(f"--port {port}: cannot listen on {host}: {exc.strerror}") from None
    console.print(f"simulator listening on {server.url}/v1 (Ctrl-C stops it)")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
        console.print("simulator stopped")


def worker(
    queues: Annotated[
        str | None, typer.Option("--queues", "-Q", help="Comma-separated (default: every vlm.*).")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="Threads (default: worker_concurrency)."),
    ] = None,
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[
        str | None, typer.Option(help="Celery broker (default: $LABELLER_BROKER_URL).")
    ] = None,
) -> None:
    """Run a Celery worker for this machine (same as `celery -A workers.app worker`)."""
    settings = load(config, database_url=database_url, broker_url=broker_url)
    if settings.broker_url is None:
        raise UserError(
            "broker_url: a worker needs the shared broker: pass --broker-url or set "
            "LABELLER_BROKER_URL (e.g. redis://queue-host:6379/0)"
        )
    simulator_config(settings.simulator)
    names = queues.split(",") if queues else [f"vlm.{p.name}" for p in settings.providers]
    command = worker_command(
        names, concurrency=concurrency or settings.worker_concurrency, name="labeller"
    )
    env = {
        **os.environ,
        "LABELLER_BROKER_URL": settings.broker_url,
        "LABELLER_DATABASE_URL": settings.database_url,
    }
    if config is not None:
        env["LABELLER_CONFIG"] = str(config.resolve())
    os.execve(command[0], command, env)


def db_upgrade(config: ConfigOpt = None, database_url: DatabaseOpt = None) -> None:
    """Apply the Alembic migrations up to the newest schema."""
    open_store(load(config, database_url=database_url)).engine.dispose()
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")
    ] = False,
) -> None:
    """Write a synthetic recording with moving shapes, so consecutive frames differ."""
    width, height = _resolution(resolution)
    if rate <= 0:
        raise UserError(f"--rate: must be positive, got {rate}")
    if output.exists() and not overwrite:
        raise UserError(f"{output}: already exists (pass --overwrite to replace it)")
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
