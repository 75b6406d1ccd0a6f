"""One provider call's record, and where a frame goes after a failed call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labeller.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    ProviderError,
    RateLimited,
)
from labeller.pipeline.context import JobContext
from labeller.pipeline.messages import FrameMessage, Outcome, OutcomeKind
from labeller.providers import CaptionResponse
from labeller.routing import Grant, Router
from labeller.store import Attempt, AttemptStatus, ClaimedFrame, Store

__all__ = ["MAX_DELAY_S", "Call", "after_failure", "attempt_row"]

#: Longest a frame waits before it is published again (a retry-after of hours is a daily quota
#: running out: the frame comes back every few minutes to look, through its fallbacks first).
MAX_DELAY_S = 300.0

_ATTEMPT_STATUS: list[tuple[type[ProviderError], AttemptStatus]] = [
    (RateLimited, AttemptStatus.rate_limited),
    (Overloaded, AttemptStatus.overloaded),
    (BadRequest, AttemptStatus.bad_request),
    (AuthError, AttemptStatus.auth_error),
]


@dataclass(frozen=True)
class Call:
    """Everything about one provider call that its Attempt row and its aftermath need."""

    job: JobContext
    frame: ClaimedFrame
    worker: str
    message: FrameMessage
    grant: Grant
    key_alias: str | None


def _status(error: ProviderError) -> AttemptStatus:
    for kind, status in _ATTEMPT_STATUS:
        if isinstance(error, kind):
            return status
    return AttemptStatus.transient


def attempt_row(
    call: Call,
    started: float,
    latency_s: float,
    *,
    response: CaptionResponse | None = None,
    cost: float = 0.0,
    error: ProviderError | None = None,
) -> Attempt:
    """The Attempt row of a call that answered (`response`) or failed (`error`)."""
    provider = call.job.spec.provider(call.message.provider)
    return Attempt(
        job_id=call.frame.job_id,
        frame_index=call.frame.index,
        number=call.frame.attempts,
        provider=provider.name,
        key_alias=call.key_alias,
        model=response.model if response else provider.model,
        status=_status(error).value if error else AttemptStatus.ok.value,
        http_status=error.status if error else 200,
        latency_ms=latency_s * 1000,
        prompt_tokens=response.prompt_tokens if response else 0,
        completion_tokens=response.completion_tokens if response else 0,
        cost_usd=cost,
        error=str(error) if error else None,
        worker=call.worker,
        started_at=started,
    )


def after_failure(
    call: Call,
    error: ProviderError,
    store: Store,
    router: Router,
    jitter: Callable[[float], float],
) -> Outcome:
    """Fail the frame, or move it along its fallback chain (or back to its own queue)."""
    frame, message = call.frame, call.message
    spec = call.job.spec
    if isinstance(error, AuthError):
        # The key is disabled for everyone; the frame itself is fine: try again, other keys.
        delay_s = 1.0 + jitter(1.0)
        store.reroute(call.frame, call.worker, message.provider, delay_s=delay_s)
        return Outcome(OutcomeKind.rerouted, message, delay_s)
    # A 429 is the provider's pace, not the frame's fault: it waits without using up attempts,
    # so a frame is never failed because every key was cooling down.
    limited = isinstance(error, RateLimited)
    if not error.retryable or (frame.attempts >= spec.max_attempts and not limited):
        reason = str(error) if not error.retryable else f"out of attempts; last: {error}"
        store.fail(frame, call.worker, reason)
        return Outcome(OutcomeKind.failed)
    target = router.next_after(message.provider, frame.attempts)
    delay_s = 0.0
    if target == message.provider:
        base = error.retry_after_s if isinstance(error, RateLimited) else None
        delay_s = base if base is not None else min(30.0, 2.0**frame.attempts)
    delay_s += jitter(max(delay_s, 0.5))
    delay_s = min(delay_s, MAX_DELAY_S)
    if not store.reroute(frame, call.worker, target, delay_s=delay_s, refund_attempt=limited):
        return Outcome(OutcomeKind.duplicate)
    return Outcome(OutcomeKind.rerouted, message.routed_to(target), delay_s)
