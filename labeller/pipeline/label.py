"""Label one frame: claim, render, reuse a cached caption or take a slot, call, record.

The pipeline knows nothing of Celery. It returns an `Outcome`; a frame that must wait or fall
back goes back to `pending` in the database (with a not-before time), and the feeder publishes it
again. Every provider call becomes an Attempt row.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from labeller.errors import (
    AuthError,
    LabellerError,
    LimiterUnavailable,
    ProviderError,
    RateLimited,
    StoreError,
)
from labeller.frames import (
    encode_for_request,
    image_digest,
    perceptual_hash,
    render_window,
    thumbnail,
    thumbnail_distance,
)
from labeller.pipeline.calls import MAX_DELAY_S, Call, after_failure, attempt_row
from labeller.pipeline.context import JobContext, Resources
from labeller.pipeline.messages import FrameMessage, Outcome, OutcomeKind
from labeller.pipeline.observer import NullObserver, PipelineObserver
from labeller.providers import CaptionRequest, estimate_image_tokens, estimate_text_tokens
from labeller.routing import Grant, Limiter, Wait, call_cost
from labeller.store import (
    Attempt,
    ClaimedFrame,
    FrameOutcome,
    Store,
    find_exact,
    find_near,
    job_spend,
)

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Delay (s) before retrying a frame whose limiter could not be reached.
LIMITER_RETRY_S = 5.0
#: How long (s) a write after a provider call is retried while the database is unreachable;
#: keep it below the lease, or another worker may take the frame meanwhile.
STORE_PATIENCE_S = 240.0
#: A lease with less than a call's timeout plus this left (s) is renewed before the call.
LEASE_MARGIN_S = 5.0
#: How long (s) a worker trusts its last reading of a job's spend (plus its own spending since)
#: before summing it again; the budget may be overshot by what the other workers spend in this
#: time and by the calls in flight when it is reached.
SPEND_TTL_S = 2.0


@dataclass(frozen=True)
class _Rendered:
    request: CaptionRequest
    #: The exact cache's key: the image digest, the prompt folded in if fields were filled.
    image_hash: str
    #: Perceptual hash and thumbnail, only computed for near-duplicate reuse.
    phash: int | None
    thumb: bytes | None
    tokens: dict[str, int]


class Pipeline:
    """One per worker process; thread-safe, so a threads pool shares it."""

    def __init__(
        self,
        store: Store,
        limiter: Limiter,
        *,
        simulator_url: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        observer: PipelineObserver | None = None,
    ) -> None:
        self._store = store
        self._observer = observer or NullObserver()
        self._limiter = limiter
        self._resources = Resources(store, simulator_url=simulator_url)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        #: Per job: the spend last summed from the database, when, and what this process has
        #: spent since (so its own calls count at once).
        self._spend: dict[str, tuple[float, float, float]] = {}

    def close(self) -> None:
        self._resources.close()

    def label(self, message: FrameMessage) -> Outcome:
        """Caption `message`'s frame once, whatever happens to the provider or this worker."""
        outcome = self._label(message)
        self._observer.on_frame(outcome.kind, (outcome.message or message).provider)
        return outcome

    def _label(self, message: FrameMessage) -> Outcome:
        job = self._resources.job(message.job)
        spec = job.spec
        # Host and process first, so a person (or a test) can tell who holds a lease.
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        claimed_at = time.monotonic()
        frame = self._store.claim(
            message.job, message.frame, message.provider, worker, spec.lease_s, spec.max_attempts
        )
        if frame is None:
            return Outcome(OutcomeKind.duplicate)
        if self._over_budget(job):
            self._store.park(frame, worker)
            self._store.pause_job(job.job_id, f"spend reached the budget of {spec.budget_usd} USD")
            return Outcome(OutcomeKind.paused)
        try:
            rendered = self._render(job, frame)
        except LabellerError as exc:
            self._store.fail(frame, worker, str(exc))
            return Outcome(OutcomeKind.failed)
        if self._from_cache(job, frame, worker, rendered, message.provider):
            return Outcome(OutcomeKind.cached)
        if job.spec.cache.exact or rendered.phash is not None:
            # What later frames (and jobs) look their cache hits up by. A job with the cache off
            # skips the write: one UPDATE less per frame.
            self._store.record_image(
                frame, worker, rendered.image_hash, rendered.phash, rendered.thumb
            )
        return self._call_with_slot(job, frame, worker, message, rendered, claimed_at)

    def _call_with_slot(
        self,
        job: JobContext,
        frame: ClaimedFrame,
        worker: str,
        message: FrameMessage,
        rendered: _Rendered,
        claimed_at: float,
    ) -> Outcome:
        asked = time.monotonic()
        granted, message = self._slot_on_route(job, message, rendered)
        if isinstance(granted, Wait):
            self._observer.on_no_slot(message.provider, granted.reason)
            if granted.reason == "disabled":
                self._store.fail(frame, worker, f"{message.provider}: every key was refused")
                return Outcome(OutcomeKind.failed)
            delay = min(granted.seconds + self._jitter(granted.seconds), MAX_DELAY_S)
            self._store.reroute(frame, worker, message.provider, delay_s=delay, refund_attempt=True)
            return Outcome(OutcomeKind.rerouted, message, delay)
        self._observer.on_slot(message.provider, time.monotonic() - asked)
        left_s = job.spec.lease_s - (time.monotonic() - claimed_at)
        timeout_s = job.spec.provider(message.provider).timeout_s
        if left_s < timeout_s + LEASE_MARGIN_S and not self._store.renew_lease(
            frame, worker, max(job.spec.lease_s, timeout_s + LEASE_MARGIN_S)
        ):
            # The lease could run out during the call (or already has, while this task waited
            # for its slot, and the sweeper gave the frame to another worker): renewed, or the
            # frame is left alone, as calling now could pay for it twice.
            self._tell_limiter(lambda: self._limiter.settle(granted, 0))
            return Outcome(OutcomeKind.duplicate)
        try:
            client = self._resources.client(job, message.provider, granted.key_alias)
        except LabellerError as exc:
            self._tell_limiter(lambda: self._limiter.settle(granted, 0))
            self._store.fail(frame, worker, str(exc))
            return Outcome(OutcomeKind.failed)
        call = Call(job, frame, worker, message, granted, client.key_alias)
        started, t0 = self._clock(), time.monotonic()
        try:
            with self._observer.calling(message.provider):
                response = client.caption(rendered.request)
        except ProviderError as exc:
            error = exc
            failed = self._record_failure(call, error, started, time.monotonic() - t0)
            after = self._patiently(
                "saving a failed call's outcome",
                lambda: after_failure(call, error, self._store, job.router, self._jitter),
            )
            if after.message is not None:
                self._moved(message, after.message.provider, failed.status)
            return after
        latency_s = time.monotonic() - t0
        used = response.prompt_tokens + response.completion_tokens
        self._tell_limiter(lambda: self._limiter.settle(granted, used))
        self._tell_limiter(lambda: self._limiter.record_success(message.provider))
        if response.rate_limit is not None:
            observed = response.rate_limit
            self._tell_limiter(lambda: self._limiter.observe(granted, observed))
        cost = call_cost(
            job.prices[message.provider], response.prompt_tokens, response.completion_tokens
        )
        attempt = attempt_row(call, started, latency_s, response=response, cost=cost)
        self._observer.on_attempt(attempt)
        self._count_spend(job.job_id, cost)
        outcome = FrameOutcome(
            message.provider,
            response.model,
            response.caption,
            response.prompt_tokens,
            response.completion_tokens,
            cost,
        )
        if not self._patiently(
            "saving a caption", lambda: self._store.complete(frame, worker, outcome, attempt)
        ):
            log.warning(
                "frame %s/%s: lease lost before the caption was saved", job.job_id, frame.index
            )
            return Outcome(OutcomeKind.duplicate)
        return Outcome(OutcomeKind.done, message)

    def _record_failure(
        self, call: Call, error: ProviderError, started: float, latency_s: float
    ) -> Attempt:
        grant = call.grant
        self._tell_limiter(lambda: self._limiter.settle(grant, 0))
        if isinstance(error, AuthError):
            if self._tell_limiter(
                lambda: self._limiter.disable_key(grant.provider, grant.key_alias)
            ):
                log.error(
                    "provider %s: key %s was refused (%s); it is disabled for every worker "
                    "until re-enabled",
                    grant.provider,
                    grant.key_alias,
                    error.status,
                )
        elif isinstance(error, RateLimited):
            wait_s = error.retry_after_s
            self._tell_limiter(
                lambda: self._limiter.cool_down(grant.provider, grant.key_alias, wait_s)
            )
        elif error.retryable:
            self._tell_limiter(lambda: self._limiter.record_failure(grant.provider))
        attempt = attempt_row(call, started, latency_s, error=error)
        self._observer.on_attempt(attempt)
        self._patiently("recording a call", lambda: self._store.record_attempt(attempt))
        return attempt

    @staticmethod
    def _tell_limiter(update: Callable[[], _T]) -> _T | None:
        """Tell the limiter what a call did, or log that it could not be told.

        After a paid call, a Redis that is away must not fail the task (the caption would be
        lost and the frame paid for again): an unsettled slot frees itself when its lease runs
        out, and a Redis that restarted empty has forgotten the grant anyway.
        """
        try:
            return update()
        except LimiterUnavailable as exc:
            log.warning("rate limiter not told of a call's outcome: %s", exc)
            return None

    def _patiently(self, what: str, write: Callable[[], _T]) -> _T:
        """Retry a write that follows a provider call while the database is away.

        The call is paid for: giving up would lose the caption and, once the lease expires,
        pay for the frame again. Writes before the call just fail the task, which Celery
        retries with backoff.
        """
        delay_s, deadline = 0.5, time.monotonic() + STORE_PATIENCE_S
        while True:
            try:
                return write()
            except StoreError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("%s: %s; retrying in %.0f s", what, exc, delay_s)
                self._sleep(delay_s)
                delay_s = min(2 * delay_s, 10.0)

    def _slot_on_route(
        self, job: JobContext, message: FrameMessage, rendered: _Rendered
    ) -> tuple[Grant | Wait, FrameMessage]:
        """A slot on the frame's provider or, when it is saturated, on its fallbacks.

        Returns the first grant with the message routed to that provider. When every provider
        of the chain must wait, the task itself waits for the earliest slot if the waits add
        up to at most `inline_wait_s` (so a frame's lease never runs out here); otherwise it
        returns that wait and its provider: the frame then waits for that slot instead of
        bouncing between saturated queues.
        """
        chain = list(
            dict.fromkeys([message.provider, *job.spec.provider(message.provider).fallback])
        )
        budget_s = job.spec.routing.inline_wait_s
        while True:
            waits: list[tuple[Wait, str]] = []
            for name in chain:
                result = self._take_slot(job, name, rendered.tokens[name])
                if isinstance(result, Grant):
                    return result, self._moved(message, name, waits[0][0].reason if waits else "")
                waits.append((result, name))
            # Disabled keys never free up: prefer any provider that will, soonest first.
            wait, name = min(waits, key=lambda w: (w[0].reason == "disabled", w[0].seconds))
            if wait.reason == "disabled" or wait.seconds > budget_s:
                return wait, self._moved(message, name, waits[0][0].reason)
            pause = wait.seconds + self._jitter(wait.seconds)
            budget_s -= pause
            self._sleep(pause)

    def _moved(self, message: FrameMessage, provider: str, reason: str) -> FrameMessage:
        """`message` routed to `provider`, told to the observer when that is a fallback."""
        if provider == message.provider:
            return message
        self._observer.on_fallback(message.provider, provider, reason)
        return message.routed_to(provider)

    def _take_slot(self, job: JobContext, provider: str, tokens: int) -> Grant | Wait:
        """A grant, or how long until one could be given."""
        try:
            return self._limiter.acquire(job.routes[provider], tokens)
        except LimiterUnavailable:
            log.warning("rate limiter unreachable; frame retried in %.0f s", LIMITER_RETRY_S)
            return Wait(LIMITER_RETRY_S, "limiter")

    def _render(self, job: JobContext, frame: ClaimedFrame) -> _Rendered:
        spec = job.spec
        options = spec.render
        recording = self._resources.recording(spec)
        image = render_window(recording, frame.i_start, frame.i_end, frame.t_end_us, options)
        encoded = encode_for_request(image, options)
        prompt = job.prompt_for(frame)
        text_tokens = estimate_text_tokens(prompt)
        output_tokens = spec.routing.output_tokens_estimate
        tokens = {
            p.name: text_tokens
            + output_tokens
            + estimate_image_tokens(p, encoded.width, encoded.height)
            for p in spec.providers
        }
        near = job.near_reuse
        return _Rendered(
            CaptionRequest(prompt, encoded.data, encoded.media_type),
            job.cache_key(image_digest(encoded.data), prompt) if spec.cache.exact or near else "",
            perceptual_hash(image) if near else None,
            thumbnail(image) if near else None,
            tokens,
        )

    def _from_cache(
        self,
        job: JobContext,
        frame: ClaimedFrame,
        worker: str,
        rendered: _Rendered,
        provider: str,
    ) -> bool:
        """Complete the frame from an identical or near-identical one's caption, if any."""
        cache = job.spec.cache
        source = None
        if cache.exact:
            model = job.spec.provider(provider).model
            source = find_exact(self._store.engine, rendered.image_hash, job.prompt_hash, model)
        phash, thumb_now = rendered.phash, rendered.thumb
        if source is None and cache.near_duplicate_bits is not None and phash is not None:
            source = find_near(
                self._store.engine,
                job.job_id,
                phash,
                cache.near_duplicate_bits,
                lambda thumb: (
                    thumb is not None
                    and thumb_now is not None
                    and thumbnail_distance(thumb, thumb_now) <= cache.near_duplicate_max_gray
                ),
            )
        if source is None:
            return False
        self._store.record_image(frame, worker, rendered.image_hash, rendered.phash, rendered.thumb)
        return self._store.complete_from_cache(frame, worker, source)

    def _over_budget(self, job: JobContext) -> bool:
        budget = job.spec.budget_usd
        if budget is None:
            return False
        now = self._clock()
        with self._lock:
            spent, read_at, own = self._spend.get(job.job_id, (0.0, -1e18, 0.0))
        if now - read_at > SPEND_TTL_S:
            spent, own = job_spend(self._store.engine, job.job_id), 0.0
            with self._lock:
                self._spend[job.job_id] = (spent, now, 0.0)
        return spent + own >= budget

    def _count_spend(self, job_id: str, cost: float) -> None:
        with self._lock:
            spent, read_at, own = self._spend.get(job_id, (0.0, -1e18, 0.0))
            self._spend[job_id] = (spent, read_at, own + cost)

    def _jitter(self, scale_s: float) -> float:
        """Up to 10% of `scale_s` extra, so frames that waited together do not retry in lockstep."""
        with self._lock:
            return self._rng.uniform(0.0, 0.1 * max(scale_s, 0.5))
