"""A job's figures for its report, gathered from the database in one streaming pass per table.

Times are seconds since the job was created. Spend is every call's cost, failed calls
included, as `labeller status` counts it.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from labeller.config import JobSpec
from labeller.jobs import percentiles
from labeller.store import (
    FailureGroup,
    FrameState,
    Job,
    JobSummary,
    ProviderStats,
    failure_groups,
    fallbacks_by_provider,
    iter_frame_ends,
    ok_latencies,
    summarise,
)

__all__ = ["Latency", "ProgressFn", "ProviderFigures", "ReportData", "Timeline", "collect"]

#: Called as work proceeds: (what, done, total or None).
ProgressFn = Callable[[str, int, int | None], None]
#: Points on the cumulative progress curve.
CURVE_POINTS = 240
#: At most this many throughput bars.
MAX_BUCKETS = 60
#: Bucket widths (s) the throughput chart may use: round numbers a person reads at a glance.
_NICE_WIDTHS = (
    0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
    7200, 10800, 21600, 43200, 86400,
)  # fmt: skip
#: Report progress every this many rows.
_TICK = 5000


@dataclass(frozen=True)
class Latency:
    """Percentiles (ms) of a provider's successful calls."""

    count: int
    p5: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class ProviderFigures:
    name: str
    model: str
    frames_done: int
    calls: int
    ok: int
    rate_limited: int
    #: Failed calls other than 429s (overloaded, transient, bad request, auth).
    other_errors: int
    #: Done frames whose first call went here and that another provider captioned.
    fallbacks: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency: Latency | None


@dataclass(frozen=True)
class Timeline:
    """Frames ended over time, bucketed for the two progress charts."""

    #: Seconds from the job's creation to its end (or to now, for a live job).
    span_s: float
    #: Cumulative (t, done frames) and (t, failed frames) points.
    done_curve: list[tuple[float, float]]
    failed_curve: list[tuple[float, float]]
    bucket_s: float
    edges: list[float]
    #: Frames done per second in each bucket, per provider.
    rate_by_provider: dict[str, list[float]]
    #: When the first frame was done (s), None before then: workers starting, recording
    #: planned, first calls in flight.
    first_done_s: float | None


@dataclass(frozen=True)
class ReportData:
    job: Job
    spec: JobSpec
    summary: JobSummary
    #: Epoch s the report was made at.
    now: float
    timeline: Timeline
    providers: list[ProviderFigures]
    failures: list[FailureGroup]

    @property
    def duration_s(self) -> float:
        end = self.job.finished_at if self.job.finished_at is not None else self.now
        return max(end - self.job.created_at, 0.0)


def _bucket_width(span_s: float) -> float:
    return next((w for w in _NICE_WIDTHS if span_s / w <= MAX_BUCKETS), _NICE_WIDTHS[-1])


def _curve(times: np.ndarray, span_s: float) -> list[tuple[float, float]]:
    """The cumulative count of `times` at CURVE_POINTS evenly spaced instants, from (0, 0)."""
    grid = np.linspace(0.0, span_s, CURVE_POINTS + 1)
    counts = np.searchsorted(np.sort(times), grid, side="right")
    return [(float(t), float(n)) for t, n in zip(grid, counts, strict=True)]


def _timeline(done: dict[str, array[float]], failed: array[float], span_s: float) -> Timeline:
    span_s = max(span_s, 1e-3)
    width = _bucket_width(span_s)
    n = max(int(np.ceil(span_s / width - 1e-9)), 1)
    edges = [i * width for i in range(n + 1)]
    rates = {
        name: [float(c) / width for c in np.histogram(np.asarray(t), bins=edges)[0]]
        for name, t in sorted(done.items())
    }
    all_done = np.concatenate([np.asarray(t) for t in done.values()]) if done else np.zeros(0)
    failed_curve = _curve(np.asarray(failed), span_s) if len(failed) else []
    first = float(all_done.min()) if len(all_done) else None
    return Timeline(span_s, _curve(all_done, span_s), failed_curve, width, edges, rates, first)


def _latency(values: array[float]) -> Latency | None:
    p = percentiles(values, (5, 25, 50, 75, 90, 95, 99))
    if not p:
        return None
    return Latency(len(values), p[5], p[25], p[50], p[75], p[90], p[95], p[99], max(values))


def _read_frame_ends(
    engine: Engine, job: Job, total: int, tell: ProgressFn
) -> tuple[dict[str, array[float]], array[float], float]:
    """Seconds from the job's start to each done frame (per provider) and each failed one, and
    the last finish time (epoch s)."""
    done: dict[str, array[float]] = {}
    failed: array[float] = array("d")
    last, ended = job.created_at, 0
    for end in iter_frame_ends(engine, job.id):
        t = end.finished_at - job.created_at
        last = max(last, end.finished_at)
        if end.state == FrameState.done.value:
            done.setdefault(end.provider, array("d")).append(t)
        elif end.state == FrameState.failed.value:
            failed.append(t)
        ended += 1
        if ended % _TICK == 0:
            tell("Reading frames", ended, total)
    tell("Reading frames", ended, total)
    return done, failed, last


def _figures(
    name: str,
    model: str,
    stats: ProviderStats | None,
    frames_done: int,
    fallbacks: int,
    latencies: array[float] | None,
) -> ProviderFigures:
    stats = stats or ProviderStats()
    return ProviderFigures(
        name=name,
        model=model,
        frames_done=frames_done,
        calls=stats.attempts,
        ok=stats.ok,
        rate_limited=stats.rate_limited,
        other_errors=stats.errors,
        fallbacks=fallbacks,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        cost_usd=stats.cost_usd,
        latency=_latency(latencies or array("d")),
    )


def collect(engine: Engine, job: Job, now: float, progress: ProgressFn | None = None) -> ReportData:
    """Read everything the report shows about `job`; `progress` hears how far the reading is."""
    tell: ProgressFn = progress or (lambda _what, _done, _total: None)
    spec = JobSpec.model_validate_json(job.spec)
    summary = summarise(engine, job)
    done, failed, last = _read_frame_ends(engine, job, summary.finished, tell)
    # A live job's chart runs to now; a frame written after the job was marked finished (a
    # late duplicate) still falls inside the last bar.
    finish = max(job.finished_at if job.finished_at is not None else now, last)
    timeline = _timeline(done, failed, finish - job.created_at)
    ok_calls = sum(stats.ok for stats in summary.providers.values())
    latencies = ok_latencies(engine, job.id, lambda seen: tell("Reading calls", seen, ok_calls))
    fallbacks = fallbacks_by_provider(engine, job.id)
    models = {p.name: p.model for p in spec.providers}
    providers = [
        _figures(
            name,
            models.get(name, ""),
            summary.providers.get(name),
            len(done.get(name, ())),
            fallbacks.get(name, 0),
            latencies.get(name),
        )
        for name in sorted(set(models) | set(summary.providers) | set(done))
    ]
    failures = failure_groups(engine, job.id)
    return ReportData(job, spec, summary, now, timeline, providers, failures)
