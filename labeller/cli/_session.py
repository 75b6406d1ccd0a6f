"""Publish frames and wait for them, on this machine's own services or a shared broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from labeller.cli._common import console, err_console, require_job
from labeller.cli._views import job_progress, summary_table
from labeller.config import JobSpec, Settings
from labeller.errors import ConfigError
from labeller.jobs import Publisher, read_summary, wait_for_job
from labeller.local import LocalSession
from labeller.simulator import SimulatorConfig
from labeller.store import JobSummary, Store
from workers import make_publisher

__all__ = ["run_frames", "simulator_config"]


def simulator_config(settings: Settings) -> SimulatorConfig:
    """The `simulator:` section of the settings, validated; ConfigError names the bad key."""
    try:
        return SimulatorConfig.model_validate(settings.simulator)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"simulator.{key}: {error['msg']}") from None


def run_frames(
    settings: Settings,
    store: Store,
    *,
    config_path: Path | None,
    simulate: bool,
    workers: int,
    detach: bool,
    publish: Callable[[Publisher, Callable[[str], None]], None],
) -> JobSummary | None:
    """Start what is missing locally, let `publish` create or reopen a job, then watch it.

    `publish` names its job through the callback it is given as soon as the job exists, so an
    interruption at any later point can say how to continue.

    Returns the final summary, or None when detached (the job goes on without us).
    """
    session = LocalSession(
        settings,
        simulate=simulate,
        simulator_config=simulator_config(settings),
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
                err_console.print(
                    f"interrupted: unfinished frames of job {job_ids[0]} stay in the database; "
                    f"continue with `labeller requeue {job_ids[0]} --stale 0s`",
                    soft_wrap=True,
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
    return summary


def _publish_and_watch(
    settings: Settings,
    store: Store,
    session: LocalSession,
    detach: bool,
    publish: Callable[[Publisher, Callable[[str], None]], None],
    job_ids: list[str],
) -> JobSummary | None:
    publisher = make_publisher(settings.model_copy(update={"broker_url": session.broker_url}))
    try:
        publish(publisher, job_ids.append)
    finally:
        publisher.close()
    job_id = job_ids[0]
    if detach:
        console.print(f"detached: follow it with [bold]labeller status {job_id}[/]")
        return None
    total = read_summary(store, job_id).frame_count
    with job_progress(console, total) as update:
        return wait_for_job(
            store, job_id, on_update=update, sleep=time.sleep, still_working=session.alive
        )
