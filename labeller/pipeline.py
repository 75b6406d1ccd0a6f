"""Label one frame: claim, read, render, encode, take a rate-limit slot, call, record.

The pipeline knows nothing of Celery. It returns an `Outcome`; the task layer acts on it
(publishing the frame again when it was re-routed). Every provider call becomes an Attempt row.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from labeller.config import JobSpec
from labeller.errors import (
    AuthError,
    BadRequest,
    LabellerError,
    LimiterUnavailable,
    Overloaded,
    ProviderError,
    RateLimited,
)
from labeller.frames import encode, render
from labeller.providers import CaptionClient, CaptionRequest, build_client
from labeller.recordings import Recording, open_recording
from labeller.routing import Limiter, Price, Router, call_cost, price_for
from labeller.store import Attempt, AttemptStatus, ClaimedFrame, FrameOutcome, Store, get_job

__all__ = ["FrameMessage", "Outcome", "OutcomeKind", "Pipeline"]

log = logging.getLogger(__name__)

#: Rate-limit waits up to this long (s) are slept in the task; longer ones re-queue the frame.
INLINE_WAIT_S = 2.0
#: Delay (s) before retrying a frame whose limiter could not be reached.
LIMITER_RETRY_S = 5.0


@dataclass(frozen=True)
class FrameMessage:
    """A task message: ids and numbers only, never image bytes, never secrets."""

    job: str
    frame: int
    i_start: int
    i_end: int
    t_start_us: int
    t_end_us: int
    provider: str

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)

    def routed_to(self, provider: str) -> FrameMessage:
        return FrameMessage(
            self.job, self.frame, self.i_start, self.i_end, self.t_start_us, self.t_end_us, provider
        )


class OutcomeKind(StrEnum):
    #: Captioned.
    done = "done"
    #: Ended failed; the frame row says why.
    failed = "failed"
    #: Already done or validly leased elsewhere: acknowledged without a call.
    duplicate = "duplicate"
    #: Back on a queue: `Outcome.message` is to be published after `delay_s`.
    rerouted = "rerouted"


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    message: FrameMessage | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class _JobContext:
    spec: JobSpec
    router: Router
    prices: dict[str, Price]
    width: int
    height: int


_ATTEMPT_STATUS: list[tuple[type[ProviderError], AttemptStatus]] = [
    (RateLimited, AttemptStatus.rate_limited),
    (Overloaded, AttemptStatus.overloaded),
    (BadRequest, AttemptStatus.bad_request),
    (AuthError, AttemptStatus.auth_error),
]


def _attempt_status(error: ProviderError) -> AttemptStatus:
    for kind, status in _ATTEMPT_STATUS:
        if isinstance(error, kind):
            return status
    return AttemptStatus.transient


class Pipeline:
    """One per worker process: caches job specs, open recordings and provider clients."""

    def __init__(
        self,
        store: Store,
        limiter: Limiter,
        *,
        simulator_url: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._limiter = limiter
        self._simulator_url = simulator_url
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._jobs: dict[str, _JobContext] = {}
        self._recordings: dict[str, Recording] = {}
        self._clients: dict[tuple[str, str], CaptionClient] = {}
        self._closers: list[Callable[[], None]] = []

    def close(self) -> None:
        for close in self._closers:
            close()
        for recording in self._recordings.values():
            recording.close()
        self._closers.clear()
        self._recordings.clear()

    def label(self, message: FrameMessage) -> Outcome:
        """Caption `message`'s frame once, whatever happens to the provider or this worker."""
        job = self._job(message.job)
        spec = job.spec
        worker = f"{_hostname()}:{uuid.uuid4().hex[:12]}"
        frame = self._store.claim(
            message.job, message.frame, message.provider, worker, spec.lease_s, spec.max_attempts
        )
        if frame is None:
            return Outcome(OutcomeKind.duplicate)
        try:
            client = self._client(message.job, message.provider)
            request = self._request(job, frame)
        except LabellerError as exc:
            self._store.fail(frame, worker, str(exc))
            return Outcome(OutcomeKind.failed)
        wait_s = self._take_slot(spec, message.provider)
        if wait_s > 0:
            self._store.reroute(frame, worker, message.provider, refund_attempt=True)
            return Outcome(OutcomeKind.rerouted, message, wait_s + self._jitter(wait_s))
        return self._call(job, frame, worker, message, client, request)

    def _take_slot(self, spec: JobSpec, provider: str) -> float:
        """0 once a slot is held; else the wait (s) too long to spend in this task."""
        rpm = spec.provider(provider).rpm
        while True:
            try:
                wait_s = self._limiter.acquire(provider, rpm)
            except LimiterUnavailable:
                log.warning("rate limiter unreachable; frame retried in %.0f s", LIMITER_RETRY_S)
                return LIMITER_RETRY_S
            if wait_s == 0 or wait_s > INLINE_WAIT_S:
                return wait_s
            self._sleep(wait_s + self._jitter(wait_s))

    def _call(
        self,
        job: _JobContext,
        frame: ClaimedFrame,
        worker: str,
        message: FrameMessage,
        client: CaptionClient,
        request: CaptionRequest,
    ) -> Outcome:
        provider = job.spec.provider(message.provider)
        started = self._clock()
        t0 = time.monotonic()
        attempt = Attempt(
            job_id=frame.job_id,
            frame_index=frame.index,
            number=frame.attempts,
            provider=provider.name,
            key_alias=client.key_alias,
            model=provider.model,
            worker=worker,
            started_at=started,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
        )
        try:
            response = client.caption(request)
        except ProviderError as exc:
            attempt.status = _attempt_status(exc).value
            attempt.http_status = exc.status
            attempt.error = str(exc)
            attempt.latency_ms = (time.monotonic() - t0) * 1000
            self._store.record_attempt(attempt)
            return self._after_failure(job, frame, worker, message, exc)
        cost = call_cost(
            job.prices[provider.name], response.prompt_tokens, response.completion_tokens
        )
        attempt.status = AttemptStatus.ok.value
        attempt.http_status = 200
        attempt.latency_ms = (time.monotonic() - t0) * 1000
        attempt.model = response.model
        attempt.prompt_tokens = response.prompt_tokens
        attempt.completion_tokens = response.completion_tokens
        attempt.cost_usd = cost
        self._store.record_attempt(attempt)
        outcome = FrameOutcome(
            provider.name,
            response.model,
            response.caption,
            response.prompt_tokens,
            response.completion_tokens,
            cost,
        )
        if not self._store.complete(frame, worker, outcome):
            log.warning(
                "frame %s/%s: lease lost before the caption was saved", message.job, message.frame
            )
            return Outcome(OutcomeKind.duplicate)
        return Outcome(OutcomeKind.done)

    def _after_failure(
        self,
        job: _JobContext,
        frame: ClaimedFrame,
        worker: str,
        message: FrameMessage,
        error: ProviderError,
    ) -> Outcome:
        if not error.retryable or frame.attempts >= job.spec.max_attempts:
            reason = str(error) if not error.retryable else f"out of attempts; last: {error}"
            self._store.fail(frame, worker, reason)
            return Outcome(OutcomeKind.failed)
        target = job.router.next_after(message.provider, frame.attempts)
        delay_s = 0.0
        if target == message.provider:
            base = error.retry_after_s if isinstance(error, RateLimited) else None
            delay_s = base if base is not None else min(30.0, 2.0**frame.attempts)
        delay_s += self._jitter(max(delay_s, 0.5))
        if not self._store.reroute(frame, worker, target):
            return Outcome(OutcomeKind.duplicate)
        return Outcome(OutcomeKind.rerouted, message.routed_to(target), delay_s)

    def _jitter(self, scale_s: float) -> float:
        """Up to 10% of `scale_s` extra, so frames that waited together do not retry in lockstep."""
        with self._lock:
            return self._rng.uniform(0.0, 0.1 * scale_s)

    def _request(self, job: _JobContext, frame: ClaimedFrame) -> CaptionRequest:
        spec = job.spec
        options = spec.render
        events = self._recording(spec).read(frame.i_start, frame.i_end)
        image = render(events, job.width, job.height, options, t_end_us=frame.t_end_us)
        encoded = encode(
            image, options.encoding, quality=options.jpeg_quality, max_side=options.max_side
        )
        return CaptionRequest(spec.prompt, encoded.data, encoded.media_type)

    def _job(self, job_id: str) -> _JobContext:
        with self._lock:
            cached = self._jobs.get(job_id)
        if cached is not None:
            return cached
        row = get_job(self._store.engine, job_id)
        if row is None:
            raise LabellerError(f"job {job_id}: not in the database")
        spec = JobSpec.model_validate_json(row.spec)
        recording = self._recording(spec)
        context = _JobContext(
            spec,
            Router(spec.providers),
            {p.name: price_for(p) for p in spec.providers},
            recording.width,
            recording.height,
        )
        with self._lock:
            self._jobs[job_id] = context
        return context

    def _recording(self, spec: JobSpec) -> Recording:
        """One open handle per recording and layout in this process."""
        key = f"{spec.recording}|{spec.recording_options.model_dump_json()}"
        with self._lock:
            if key not in self._recordings:
                self._recordings[key] = open_recording(Path(spec.recording), spec.recording_options)
            return self._recordings[key]

    def _client(self, job_id: str, provider_name: str) -> CaptionClient:
        with self._lock:
            cached = self._clients.get((job_id, provider_name))
        if cached is not None:
            return cached
        spec = self._jobs[job_id].spec
        provider = spec.provider(provider_name)
        base_url = None
        if spec.simulated:
            if self._simulator_url is None:
                raise LabellerError(
                    f"job {job_id} is simulated but this worker has no LABELLER_SIMULATOR_URL"
                )
            base_url = f"{self._simulator_url.rstrip('/')}/v1"
        client, http = build_client(provider, base_url=base_url, simulated=spec.simulated)
        with self._lock:
            self._clients[(job_id, provider_name)] = client
            self._closers.append(http.close)
        return client


def _hostname() -> str:
    return socket.gethostname()
