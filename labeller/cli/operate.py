"""Commands that steer running jobs: cancel one, or run a feeder in the foreground."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from labeller.cli._common import ConfigOpt, DatabaseOpt, console, load, open_store, require_job
from labeller.errors import UserError
from labeller.jobs import Feeder, run_feeder
from labeller.store import JobState
from workers import leadership_for, make_publisher

__all__ = ["cancel", "feed"]

_ENDED = (JobState.done.value, JobState.failed.value, JobState.cancelled.value)


def cancel(
    job: Annotated[str, typer.Argument(help="Job id.")],
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Stop a job: frames not yet captioned are not sent, queued messages are dropped unread."""
    store = open_store(load(config, database_url=database_url), create=False)
    row = require_job(store, job)
    if row.state in _ENDED:
        raise UserError(f"job {job}: already ended ({row.state}); nothing to cancel")
    stopped = store.cancel_job(job)
    console.print(
        f"cancelled job {job}: {stopped:,} frames will not be captioned; calls already in "
        "flight finish and are recorded, nothing else is sent or billed"
    )
    store.engine.dispose()


def feed(
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[
        str | None, typer.Option(help="Celery broker (default: $LABELLER_BROKER_URL).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False,
) -> None:
    """Run a feeder here until Ctrl-C (workers run one each; this one is for nodes without)."""
    settings = load(config, database_url=database_url, broker_url=broker_url)
    if settings.broker_url is None:
        raise UserError(
            "broker_url: a feeder publishes to the shared broker: pass --broker-url or set "
            "LABELLER_BROKER_URL"
        )
    store = open_store(settings, create=False)
    publisher = make_publisher(settings)
    lease = leadership_for(settings)
    try:
        publisher.check()
        feeder = Feeder(store, publisher, settings.feeder)
        if once:
            done = feeder.feed_once()
            console.print(
                f"published {done.published}, swept {done.expired} expired and {done.lost} "
                f"lost, finished {len(done.finished)} job(s)"
            )
            return
        console.print(f"feeding every {settings.feeder.interval_s:g} s (Ctrl-C stops)")
        stop = threading.Event()
        try:
            run_feeder(feeder, lease[0] if lease else None, stop, settings.feeder.interval_s)
        except KeyboardInterrupt:
            stop.set()
            console.print("feeder stopped")
    finally:
        if lease is not None:
            lease[1].close()
        publisher.close()
        store.engine.dispose()
