"""Every metric the workers expose, in one place: name, type, labels, unit and meaning.

Pure data (no prometheus_client here): the observer builds its metrics from these, the exporter
adds the queue gauge, and the README's table is checked against them. Counters are summed over
every worker process of a node; `labeller_calls_in_flight` sums the live processes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ATTEMPTS",
    "CALLS_IN_FLIGHT",
    "COST",
    "FALLBACKS",
    "FRAMES",
    "LATENCY",
    "METRICS",
    "NO_SLOT",
    "QUEUE_DEPTH",
    "RATE_LIMITED",
    "SLOT_WAIT",
    "TOKENS",
    "Kind",
    "MetricSpec",
]


class Kind(StrEnum):
    #: Only goes up; exposed with a `_total` suffix.
    counter = "counter"
    #: A value that goes up and down.
    gauge = "gauge"
    #: Observations in buckets (`_bucket`, `_sum`, `_count`).
    histogram = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    #: The name as exposed (counters end in `_total`).
    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    #: Upper bounds of a histogram's buckets, in the metric's unit.
    buckets: tuple[float, ...] = ()


FRAMES = MetricSpec(
    "labeller_frames_total",
    Kind.counter,
    ("outcome", "provider"),
    "Frame tasks (deliveries of a frame to a worker) by how each ended, not frames by state: "
    "outcome done, cached, failed (these end a frame), rerouted, duplicate, paused; provider: "
    "the one that captioned it (done), the next one (rerouted), else the queue's.",
)
ATTEMPTS = MetricSpec(
    "labeller_attempts_total",
    Kind.counter,
    ("provider", "status"),
    "Provider calls (one per Attempt row), by status: ok, rate_limited (429), overloaded "
    "(529/503), transient (5xx, timeout, malformed), bad_request (400/413), auth_error (401/403).",
)
RATE_LIMITED = MetricSpec(
    "labeller_rate_limited_total",
    Kind.counter,
    ("provider", "key"),
    "429 answers, by provider and key alias (the name of the variable holding the key, never "
    "the key; empty for servers without auth).",
)
FALLBACKS = MetricSpec(
    "labeller_fallbacks_total",
    Kind.counter,
    ("from_provider", "to_provider", "reason"),
    "Moves of a frame to the next provider of its fallback chain, counted when made, even if no "
    "call follows (the frame waits or moves on); reason: the limiter's (rpm, tpm, in_flight, "
    "cooldown, breaker, disabled, limiter) when the first had no slot, else the failed call's "
    "status.",
)
TOKENS = MetricSpec(
    "labeller_tokens_total",
    Kind.counter,
    ("provider", "kind"),
    "Tokens the providers reported, kind prompt or completion.",
)
COST = MetricSpec(
    "labeller_cost_usd_total",
    Kind.counter,
    ("provider",),
    "Spend in USD, as recorded on the Attempt rows (the configured or built-in prices).",
)
LATENCY = MetricSpec(
    "labeller_provider_latency_seconds",
    Kind.histogram,
    ("provider",),
    "Duration of each provider call in seconds, failed calls included.",
    (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
SLOT_WAIT = MetricSpec(
    "labeller_slot_wait_seconds",
    Kind.histogram,
    ("provider",),
    "Seconds from asking the rate limiter for a slot to getting one, per call (waits inside "
    "the task included, up to routing.inline_wait_s).",
    (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)
NO_SLOT = MetricSpec(
    "labeller_slot_refusals_total",
    Kind.counter,
    ("provider", "reason"),
    "Tasks that found no slot on any provider of the chain within routing.inline_wait_s: the "
    "frame waits in the database for the provider named (or fails, reason disabled).",
)
CALLS_IN_FLIGHT = MetricSpec(
    "labeller_calls_in_flight",
    Kind.gauge,
    ("provider",),
    "Provider calls running now on this node's live worker processes.",
)
QUEUE_DEPTH = MetricSpec(
    "labeller_queue_depth",
    Kind.gauge,
    ("queue",),
    "Messages waiting on each provider queue (vlm.<provider>) of the broker, read at scrape "
    "time; absent when the broker cannot be read.",
)

METRICS = (
    FRAMES,
    ATTEMPTS,
    RATE_LIMITED,
    FALLBACKS,
    TOKENS,
    COST,
    LATENCY,
    SLOT_WAIT,
    NO_SLOT,
    CALLS_IN_FLIGHT,
    QUEUE_DEPTH,
)
