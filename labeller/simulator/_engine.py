"""The provider-neutral core: draws, windows, latency, hangs, captions and stats of one request.

Order per request follows the real services: the caller has done auth and validation; then a
drawn spurious 429 or overload (fast, uncounted), then the RPM/TPM windows (a 429 is fast and
uncounted), then latency, then a drawn fault, hang or malformed body, else the caption. Format
modules turn the `Outcome` into their own status, headers and body.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from labeller.simulator import _captions
from labeller.simulator._chance import Fate, draw
from labeller.simulator._images import Picture
from labeller.simulator._limits import Decision, SlidingWindow
from labeller.simulator._stats import Stats
from labeller.simulator.config import SimulatorConfig

__all__ = ["Call", "Engine", "Kind", "Outcome"]

#: Retry-after of a drawn (spurious) 429, in seconds.
SPURIOUS_RETRY_S = 1.0


class Kind(StrEnum):
    """What the client is shown."""

    #: 200 with a caption (also after a drawn hang).
    answer = "answer"
    #: 200 with the answer's JSON cut in half.
    malformed = "malformed"
    #: 429; `Outcome.decision` says which window, `retry_after_s` when to retry.
    rate_limited = "rate_limited"
    #: 529 (Anthropic) or 503.
    overloaded = "overloaded"
    #: 500.
    fault = "fault"
    #: Nothing: the server stopped during a hang, the connection is closed.
    dropped = "dropped"


@dataclass(frozen=True)
class Call:
    """One validated request: who (key hash), which model, its prompt and decoded images."""

    owner: str
    model: str
    prompt_tokens: int
    frames: list[Picture]
    max_tokens: int | None


@dataclass(frozen=True)
class Outcome:
    """What happened to a Call; tokens are what the windows charged."""

    kind: Kind
    decision: Decision
    #: Admission time, epoch s from the injected clock.
    now: float
    latency_ms: float = 0.0
    retry_after_s: float = 0.0
    text: str = ""
    #: The caption was cut at the caller's max_tokens.
    truncated: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Engine:
    """Serves Calls from a SimulatorConfig; safe to call from many handler threads."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.stats = Stats()
        self._config = config
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self._windows = SlidingWindow()
        #: Set while the server stops: latency and hangs end at once.
        self._stopping = threading.Event()

    def open(self) -> None:
        """Let latency and hangs run their course again (the server started)."""
        self._stopping.clear()

    def close(self) -> None:
        """End every latency wait and hang now (the server is stopping)."""
        self._stopping.set()

    @property
    def config(self) -> SimulatorConfig:
        return self._config

    def serve(self, call: Call) -> Outcome:
        """Decide, wait and answer one Call."""
        profile = self._config.profile(call.model)
        with self._rng_lock:
            latency_ms, fate = draw(profile, self._rng)
        now = self.clock()
        if fate is Fate.rate_limited or fate is Fate.overloaded:
            # Peek at the windows for the headers without charging them.
            decision = self._windows.acquire(
                call.owner, call.model, profile.rpm, profile.tpm, 0, now, record=False
            )
            refused = Kind.rate_limited if fate is Fate.rate_limited else Kind.overloaded
            self.stats.count(call.owner, call.model, now, refused.value)
            return Outcome(refused, decision, now, retry_after_s=SPURIOUS_RETRY_S)
        text, truncated = "", False
        if fate is not Fate.fault:
            text = _captions.caption(_describe(call.frames[0]), profile.output_tokens)
            if call.max_tokens is not None and _captions.count_tokens(text) > call.max_tokens:
                text, truncated = _captions.truncate(text, call.max_tokens), True
        completion = _captions.count_tokens(text) if text else 0
        decision = self._windows.acquire(
            call.owner, call.model, profile.rpm, profile.tpm, call.prompt_tokens + completion, now
        )
        if not decision.allowed:
            self.stats.count(call.owner, call.model, now, "rate_limited")
            return Outcome(Kind.rate_limited, decision, now, retry_after_s=decision.retry_after_s)
        outcome = {
            Fate.answer: "accepted",
            Fate.fault: "faults",
            Fate.timeout: "timeouts",
            Fate.malformed: "malformed",
        }[fate]
        self.stats.admit(call.owner, call.model, now, outcome, call.prompt_tokens, completion)
        stopped = self._stopping.wait(latency_ms / 1000) if latency_ms > 0 else False
        if fate is Fate.timeout and not stopped:
            stopped = self._stopping.wait(profile.timeout_s)
        if stopped:
            return Outcome(Kind.dropped, decision, now)
        kind = {Fate.fault: Kind.fault, Fate.malformed: Kind.malformed}.get(fate, Kind.answer)
        return Outcome(
            kind,
            decision,
            now,
            latency_ms=latency_ms,
            text=text,
            truncated=truncated,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=completion,
        )


def _describe(picture: Picture) -> _captions.FrameStats:
    return _captions.describe(picture.rgb, width_px=picture.width, height_px=picture.height)
