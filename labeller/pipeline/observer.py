"""What the pipeline tells observers (metrics) as a frame goes through it; no-ops by default.

The Attempt rows are the record; an observer only counts what happened, so its hooks must be
cheap and must never raise: they run in the task's thread, between a paid call and its write.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from labeller.pipeline.messages import OutcomeKind
from labeller.store import Attempt

__all__ = ["NullObserver", "PipelineObserver"]


class PipelineObserver(Protocol):
    def on_frame(self, outcome: OutcomeKind, provider: str) -> None:
        """A task ended with `outcome`; `provider` is where the frame ended up: the one that
        captioned it (done), the next one (rerouted), else the one whose queue it came from."""

    def on_attempt(self, attempt: Attempt) -> None:
        """A provider call ended; `attempt` is its row: status, key alias, latency, tokens, cost."""

    def on_fallback(self, source: str, target: str, reason: str) -> None:
        """A frame moved from provider `source` to `target`: `reason` is the limiter's wait
        reason (no slot on `source`) or the failed call's attempt status."""

    def on_slot(self, provider: str, waited_s: float) -> None:
        """A call got its limiter slot on `provider` after `waited_s` (inline waits included)."""

    def on_no_slot(self, provider: str, reason: str) -> None:
        """No slot within `routing.inline_wait_s`: the frame waits in the database for `provider`
        (or fails, when every key is disabled); `reason` is the limiter's."""

    def calling(self, provider: str) -> AbstractContextManager[None]:
        """Held around one provider call (calls in flight)."""


class NullObserver:
    """Observes nothing: the pipeline's default, and every worker's when metrics are off."""

    def on_frame(self, outcome: OutcomeKind, provider: str) -> None:
        pass

    def on_attempt(self, attempt: Attempt) -> None:
        pass

    def on_fallback(self, source: str, target: str, reason: str) -> None:
        pass

    def on_slot(self, provider: str, waited_s: float) -> None:
        pass

    def on_no_slot(self, provider: str, reason: str) -> None:
        pass

    def calling(self, provider: str) -> AbstractContextManager[None]:
        return nullcontext()
