"""What the simulator answers, apart from sockets: routing, auth, limits, faults and captions.

Order per chat request follows the real service: auth, body validation, rate limit (a 429 is
fast and uncounted), then latency, then a possible fault, then the caption. Raw API keys never
leave `_chat`: everything downstream sees a short sha256 prefix.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labeller.simulator import _captions
from labeller.simulator._images import decode_rgb, image_tokens
from labeller.simulator._limits import Decision, SlidingWindow
from labeller.simulator._openai import (
    WireError,
    completion_body,
    error_body,
    go_duration,
    parse_chat_request,
    text_tokens,
)
from labeller.simulator._stats import Stats
from labeller.simulator.config import ModelProfile, SimulatorConfig

__all__ = ["Reply", "Simulator", "key_hash"]

#: Request limit reported (and, in effect, never reached) when a profile sets no rpm.
UNLIMITED_REQUESTS = 1_000_000
#: Token limit reported in the x-ratelimit-*-tokens headers; tokens are not enforced.
TOKEN_LIMIT = 1_000_000
_FAULTS = (
    (500, "The server had an error while processing your request. Sorry about that!"),
    (502, "Bad gateway."),
    (503, "The server is overloaded or not ready yet."),
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


@dataclass
class Reply:
    """A JSON answer: status, body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def key_hash(api_key: str) -> str:
    """The only form in which a key is stored or shown: 12 hex digits of its sha256."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


class Simulator:
    """Answers requests from a SimulatorConfig; safe to call from many handler threads."""

    def __init__(
        self,
        config: SimulatorConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self._windows = SlidingWindow()
        self.stats = Stats()

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> Reply:
        """Route one request; unknown routes get OpenAI's 404 body."""
        route = path.split("?", 1)[0]
        if method == "POST" and route == "/v1/chat/completions":
            reply = self._chat(authorization, body)
        elif method == "GET" and route == "/health":
            reply = Reply(200, {"status": "ok"})
        elif method == "GET" and route == "/stats":
            reply = Reply(200, self.stats.snapshot())
        elif method == "POST" and route == "/stats/reset":
            self.stats.reset()
            reply = Reply(200, {"status": "ok"})
        else:
            message = f"Invalid URL ({method} {route})"
            reply = Reply(404, error_body(message, "invalid_request_error"))
        reply.headers["x-request-id"] = f"req_{uuid.uuid4().hex}"
        return reply

    def _chat(self, authorization: str | None, body: bytes) -> Reply:
        scheme, _, api_key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            error = error_body(_NO_KEY, "invalid_request_error", code="invalid_api_key")
            return Reply(401, error)
        try:
            request = parse_chat_request(body)
            frames = [decode_rgb(image.data) for image in request.images]
        except WireError as exc:
            error = error_body(str(exc), "invalid_request_error", param=exc.param, code=exc.code)
            return Reply(400, error)
        prompt_tokens = sum(text_tokens(text) for text in request.texts) + sum(
            image_tokens(frame.shape[1], frame.shape[0], image.detail)
            for frame, image in zip(frames, request.images, strict=True)
        )
        owner = key_hash(api_key.strip())
        profile = self._config.profile(request.model)
        budget = min(profile.output_tokens, request.max_tokens or profile.output_tokens)
        now = self._clock()
        decision = self._windows.acquire(
            owner, request.model, profile.rpm or UNLIMITED_REQUESTS, prompt_tokens + budget, now
        )
        headers = _limit_headers(decision)
        if not decision.allowed:
            self.stats.add(owner, request.model, now, rate_limited=1)
            return _rate_limited(request.model, decision, headers)
        latency_ms, fault = self._draw(profile)
        if latency_ms > 0:
            self._sleep(latency_ms / 1000)
        headers["openai-processing-ms"] = str(round(latency_ms))
        if fault is not None:
            self.stats.add(owner, request.model, now, faults=1)
            status, message = fault
            return Reply(status, error_body(message, "server_error"), headers)
        text = _captions.caption(_captions.describe(frames[0]), profile.output_tokens)
        finish_reason = "stop"
        if request.max_tokens is not None and _captions.count_tokens(text) > request.max_tokens:
            text, finish_reason = _captions.truncate(text, request.max_tokens), "length"
        completion_tokens = _captions.count_tokens(text)
        self.stats.add(
            owner,
            request.model,
            now,
            accepted=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        answer = completion_body(
            request_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(now),
            model=request.model,
            content=text,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        return Reply(200, answer, headers)

    def _draw(self, profile: ModelProfile) -> tuple[float, tuple[int, str] | None]:
        """Latency in ms and maybe a fault, drawn together so a seed replays a whole run."""
        with self._rng_lock:
            jitter = self._rng.uniform(-profile.latency_jitter_ms, profile.latency_jitter_ms)
            faulty = self._rng.random() < profile.fault_rate
            fault = self._rng.choice(_FAULTS) if faulty else None
        return max(0.0, profile.latency_ms + jitter), fault


def _limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(decision.limit),
        "x-ratelimit-remaining-requests": str(decision.remaining),
        "x-ratelimit-reset-requests": go_duration(decision.reset_s),
        "x-ratelimit-limit-tokens": str(TOKEN_LIMIT),
        "x-ratelimit-remaining-tokens": str(max(0, TOKEN_LIMIT - decision.used_tokens)),
        "x-ratelimit-reset-tokens": go_duration(decision.reset_tokens_s),
    }


def _rate_limited(model: str, decision: Decision, headers: dict[str, str]) -> Reply:
    wait = go_duration(decision.retry_after_s)
    message = (
        f"Rate limit reached for {model} in organization org-simulator on requests per min "
        f"(RPM): Limit {decision.limit}, Used {decision.used}, Requested 1. Please try again "
        f"in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers["retry-after"] = str(max(1, math.ceil(decision.retry_after_s)))
    headers["retry-after-ms"] = str(max(1, math.ceil(decision.retry_after_s * 1000)))
    return Reply(429, error_body(message, "requests", code="rate_limit_exceeded"), headers)
