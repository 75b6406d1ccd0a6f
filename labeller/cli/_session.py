"""Publish frames and wait for them, on this machine's own services or a shared broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from labeller.cli._common import console, err_console, require_job
from labeller.cli._views import job_progress, summary_table
from labeller.config import JobSpec, Settings
from labeller.errors import ConfigError
from labeller.jobs import read_summary, wait_for_job
from labeller.local import LocalSession
from labeller.simulator import SimulatorConfig
from labeller.store import JobSummary, Store
from workers import make_publisher

__all__ = ["PublishStep", "run_frames", "simulator_config"]

#: Creates or reopens a job, names it through the callback as soon as it exists (so an
#: interruption can say how to continue), and returns how many frames are now to be sent. The
#: workers' feeder publishes them.
PublishStep = Callable[[Callable[[str], None]], int]


def simulator_config(section: dict[str, Any] | None) -> SimulatorConfig:
    """A `simulator:` settings section, validated; ConfigError names the bad key."""
    try:
        return SimulatorConfig.model_validate(section or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"simulator.{key}: {error['msg']}") from None


def run_frames(
    settings: Settings,
    store: Store,
    *,
    config_path: Path | None,
    simulator: dict[str, Any] | None,
    workers: int,
    detach: bool,
    publish: PublishStep,
) -> JobSummary | None:
    """Start what is missing locally, run `publish`, then watch the job until it ends.

    `simulator` is the simulator section to serve, or None for real providers. Returns the
    final summary, or None when detached or when there was nothing to send.
    """
    session = LocalSession(
        settings,
        simulate=simulator is not None,
        simulator_config=simulator_config(simulator) if simulator is not None else None,
        workers=workers,
        config_path=config_path,
    )
    job_ids: list[str] = []
    with session:
        try:
            summary = _publish_and_watch(settings, store, session, detach, publish, job_ids)
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM/SIGHUP via main()
            session.failed = True
            if job_ids:
                again = f"-C {config_path} " if config_path is not None else ""
                err_console.print(
                    f"interrupted: unfinished frames of job {job_ids[0]} stay in the database; "
                    f"continue with `labeller requeue {job_ids[0]} {again}--stale 0s`"
                )
            raise
        if summary is None:
            return None
        if not session.alive():
            session.failed = True
            err_console.print(
                f"[red]every local worker exited; their logs are in {session.log_dir}"
            )
    spec = JobSpec.model_validate_json(require_job(store, job_ids[0]).spec)
    console.print(summary_table(summary, spec, time.time()))
    if summary.state == "paused":
        err_console.print(
            f"job {job_ids[0]} paused: its spend reached the budget of {spec.budget_usd} USD; "
            f"`labeller resume {job_ids[0]} --budget N` continues it"
        )
    return summary


def _publish_and_watch(
    settings: Settings,
    store: Store,
    session: LocalSession,
    detach: bool,
    publish: PublishStep,
    job_ids: list[str],
) -> JobSummary | None:
    # The broker must answer before a job is written, so a wrong URL loses nothing.
    publisher = make_publisher(settings.model_copy(update={"broker_url": session.broker_url}))
    try:
        publisher.check()
    finally:
        publisher.close()
    sent = publish(job_ids.append)
    job_id = job_ids[0]
    if detach:
        console.print(f"detached: follow it with [bold]labeller status {job_id}[/]")
        return None
    if sent == 0:
        return None
    total = read_summary(store, job_id).frame_count
    with job_progress(console, total) as update:
        return wait_for_job(
            store, job_id, on_update=update, sleep=time.sleep, still_working=session.alive
        )
