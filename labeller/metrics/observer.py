"""The pipeline's observer that counts into Prometheus metrics (`definitions`).

Made once multiprocess mode is on (`directory.enable`), once per process: two would write the
same file slots over each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from prometheus_client import Counter, Gauge, Histogram

from labeller.metrics import definitions as d
from labeller.pipeline import OutcomeKind
from labeller.store import Attempt, AttemptStatus

__all__ = ["PrometheusObserver"]


def _counter(spec: d.MetricSpec) -> Counter:
    # Not registered anywhere: in multiprocess mode the exporter reads the files instead.
    return Counter(spec.name, spec.help, spec.labels, registry=None)


def _histogram(spec: d.MetricSpec) -> Histogram:
    return Histogram(spec.name, spec.help, spec.labels, registry=None, buckets=spec.buckets)


class PrometheusObserver:
    """`labeller.pipeline.PipelineObserver` recording into this process's metric files."""

    def __init__(self) -> None:
        self._frames = _counter(d.FRAMES)
        self._attempts = _counter(d.ATTEMPTS)
        self._rate_limited = _counter(d.RATE_LIMITED)
        self._fallbacks = _counter(d.FALLBACKS)
        self._tokens = _counter(d.TOKENS)
        self._cost = _counter(d.COST)
        self._latency = _histogram(d.LATENCY)
        self._slot_wait = _histogram(d.SLOT_WAIT)
        self._no_slot = _counter(d.NO_SLOT)
        spec = d.CALLS_IN_FLIGHT
        self._in_flight = Gauge(
            spec.name, spec.help, spec.labels, registry=None, multiprocess_mode="livesum"
        )

    def on_frame(self, outcome: OutcomeKind, provider: str) -> None:
        self._frames.labels(outcome.value, provider).inc()

    def on_attempt(self, attempt: Attempt) -> None:
        provider = attempt.provider
        self._attempts.labels(provider, attempt.status).inc()
        self._latency.labels(provider).observe(attempt.latency_ms / 1000.0)
        if attempt.status == AttemptStatus.rate_limited.value:
            self._rate_limited.labels(provider, attempt.key_alias or "").inc()
        self._tokens.labels(provider, "prompt").inc(attempt.prompt_tokens)
        self._tokens.labels(provider, "completion").inc(attempt.completion_tokens)
        self._cost.labels(provider).inc(attempt.cost_usd)

    def on_fallback(self, source: str, target: str, reason: str) -> None:
        self._fallbacks.labels(source, target, reason).inc()

    def on_slot(self, provider: str, waited_s: float) -> None:
        self._slot_wait.labels(provider).observe(waited_s)

    def on_no_slot(self, provider: str, reason: str) -> None:
        self._no_slot.labels(provider, reason).inc()

    def calling(self, provider: str) -> AbstractContextManager[None]:
        return self._held(self._in_flight.labels(provider))

    @staticmethod
    @contextmanager
    def _held(gauge: Gauge) -> Iterator[None]:
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
