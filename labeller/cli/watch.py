"""`labeller status JOB --watch`: read the database and the shared limiter every few seconds
and redraw, until the job ends or the person presses Ctrl-C.

Reading only, without locks: the feeder marks a job ended. The one exception is a job still
`running` whose every frame has ended (say its feeder died after the last one): then, and only
then, `finish_job_if_complete` is called (it locks the job row, once), or the watch would wait
for ever. The limiter lives in Redis, which a watcher may not reach (a local `labeller run`
keeps its own embedded Redis, gone when the run ends): its columns then show "—" and a note
says why, instead of failing the view.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.live import Live

from labeller.cli._common import err_console
from labeller.cli._watch_view import ProviderHealth, Reading, reading_json, watch_view
from labeller.config import JobSpec
from labeller.errors import LimiterUnavailable
from labeller.jobs import rates, read_summary
from labeller.routing import Limiter, RedisBackend, RouteLimits
from labeller.store import Store, provider_activity, recently_finished

__all__ = ["LimiterProbe", "read_job", "watch_job"]

#: Seconds over which the frame rate and the 429 share are measured.
RECENT_S = 60.0
#: After the limiter's Redis failed to answer, seconds before asking it again.
LIMITER_RETRY_S = 10.0
#: Job states a watch waits through; any other ends it.
_LIVE_STATES = ("running", "planning")


def _where(url: str) -> str:
    """Host and port of a Redis URL: never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class LimiterProbe:
    """Reads each route's limiter state from the workers' Redis, if this process can."""

    def __init__(
        self, redis_url: str | None, prefix: str, spec: JobSpec, clock: Callable[[], float]
    ) -> None:
        self._where = _where(redis_url) if redis_url is not None else ""
        self._clock = clock
        self._routes = [RouteLimits.from_settings(p) for p in spec.providers]
        self._retry_at = 0.0
        self.note: str | None = None
        self._backend: RedisBackend | None = None
        self._limiter: Limiter | None = None
        if redis_url is None:
            self.note = (
                "limits: — no shared Redis known (pass --redis-url as the workers have it; "
                "a local `labeller run` keeps its own)"
            )
            return
        self._backend = RedisBackend.from_url(redis_url)
        self._limiter = Limiter(
            self._backend, prefix, routing=spec.routing, edge_guard_s=spec.routing.edge_guard_s
        )

    def read(self) -> dict[str, dict[str, Any]]:
        """Each provider's `Limiter.snapshot`; empty while Redis cannot be read."""
        if self._limiter is None or self._clock() < self._retry_at:
            return {}
        try:
            snapshots = {route.provider: self._limiter.snapshot(route) for route in self._routes}
        except LimiterUnavailable as exc:
            self._retry_at = self._clock() + LIMITER_RETRY_S
            self.note = f"limits: — Redis at {self._where} did not answer ({exc})"
            return {}
        self.note = None
        return snapshots

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def read_job(store: Store, job_id: str, spec: JobSpec, probe: LimiterProbe, now: float) -> Reading:
    """One reading of the job: the database's figures, then the limiter's."""
    summary = read_summary(store, job_id)
    if (
        summary.state == "running"
        and summary.frame_count
        and summary.finished >= summary.frame_count
    ):
        store.finish_job_if_complete(job_id)
        summary = read_summary(store, job_id)
    end = now if summary.finished_at is None else min(summary.finished_at, now)
    since = max(end - RECENT_S, summary.created_at)
    per_s = recently_finished(store.engine, job_id, since) / max(end - since, 1e-3)
    remaining = summary.frame_count - summary.finished
    eta = remaining / per_s if per_s > 0 and remaining > 0 else None
    names = [p.name for p in spec.providers]
    activity = provider_activity(store.engine, job_id, now - RECENT_S, names)
    snapshots = probe.read()
    models = {p.name: p.model for p in spec.providers}
    health = [
        ProviderHealth(
            name,
            models.get(name, "?"),
            entry.queued,
            entry.running,
            entry.recent_attempts,
            entry.recent_429s,
            snapshots.get(name),
        )
        for name, entry in activity.items()
    ]
    stall = rates(summary, now)
    return Reading(
        summary,
        spec.recording,
        now,
        per_s,
        end - since,
        RECENT_S,
        eta,
        spec.budget_usd,
        health,
        probe.note,
        stall.idle_s if stall.stalled else None,
    )


def watch_job(
    store: Store,
    job_id: str,
    spec: JobSpec,
    *,
    console: Console,
    redis_url: str | None,
    key_prefix: str,
    interval_s: float,
    as_json: bool,
) -> None:
    """Redraw the job every `interval_s` until it leaves running; Ctrl-C stops watching only."""
    probe = LimiterProbe(redis_url, key_prefix, spec, time.time)
    try:
        if as_json:
            _stream_json(store, job_id, spec, probe, interval_s)
        else:
            _live(store, job_id, spec, probe, console, interval_s)
    except KeyboardInterrupt:
        err_console.print(f"stopped watching; job {job_id} carries on")
        raise typer.Exit(130) from None
    finally:
        probe.close()


def _live(
    store: Store,
    job_id: str,
    spec: JobSpec,
    probe: LimiterProbe,
    console: Console,
    interval_s: float,
) -> None:
    reading = read_job(store, job_id, spec, probe, time.time())
    if not console.is_terminal:
        # Redrawing needs a terminal: a pipe or a log gets the final view once, as Live would.
        while reading.summary.state in _LIVE_STATES:
            time.sleep(interval_s)
            reading = read_job(store, job_id, spec, probe, time.time())
        console.print(watch_view(reading))
    else:
        with Live(watch_view(reading), console=console, auto_refresh=False) as live:
            while reading.summary.state in _LIVE_STATES:
                time.sleep(interval_s)
                reading = read_job(store, job_id, spec, probe, time.time())
                live.update(watch_view(reading), refresh=True)
    _farewell(reading, console)


def _stream_json(
    store: Store, job_id: str, spec: JobSpec, probe: LimiterProbe, interval_s: float
) -> None:
    """One JSON object per line and refresh, for scripts that follow a job."""
    while True:
        reading = read_job(store, job_id, spec, probe, time.time())
        typer.echo(json.dumps(reading_json(reading)))
        if reading.summary.state not in _LIVE_STATES:
            return
        time.sleep(interval_s)


def _farewell(reading: Reading, console: Console) -> None:
    job_id, state = reading.summary.job_id, reading.summary.state
    if state == "paused":
        console.print(
            f"job {job_id} paused at its budget: `labeller resume {job_id} --budget N` continues it"
        )
    elif state == "failed":
        console.print(f"job {job_id} ended with failed frames: `labeller status {job_id}` says why")
    else:
        console.print(f"job {job_id} {state}")
