"""Read what providers' response headers say of rate limits: waits, resets and remaining counts.

Every parser returns None for a header that is absent or garbled: a quirky header must never
turn a good caption into an error. Times come out as seconds from the response.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from labeller.providers.base import RateLimitInfo

__all__ = [
    "anthropic_rate_limit",
    "exhausted_wait_s",
    "header_int",
    "openai_rate_limit",
    "parse_duration_s",
    "parse_rfc3339",
    "retry_after_s",
    "select_headers",
]

#: Seconds per unit of a Go `time.Duration` string, as OpenAI's `x-ratelimit-reset-*` sends.
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_GO_DURATION = re.compile(rf"(?:{_GO_PART.pattern})+")


def _finite_non_negative(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer header, or None."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def parse_duration_s(value: str | None) -> float | None:
    """Seconds in a Go duration (`6m0s`, `1s`, `120ms`, `1m30.5s`) or a bare number of seconds."""
    if value is None:
        return None
    text = value.strip()
    try:
        return _finite_non_negative(float(text))
    except ValueError:
        pass
    if not _GO_DURATION.fullmatch(text):
        return None
    return _finite_non_negative(
        sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_PART.findall(text))
    )


def parse_rfc3339(value: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 instant (`2025-01-01T00:00:07Z`), or None."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if instant.tzinfo is None:  # RFC 3339 always carries an offset; assume UTC if a proxy drops it
        instant = instant.replace(tzinfo=UTC)
    return instant.timestamp()


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds form; dates are ignored)."""
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = _finite_non_negative(float(value) * scale)
        except ValueError:
            continue
        if seconds is not None:
            return seconds
    return None


def select_headers(headers: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The headers whose lower-cased names start with one of `prefixes`."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(prefixes)}


def openai_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; None if none is sent."""
    info = RateLimitInfo(
        limit_requests=header_int(headers, "x-ratelimit-limit-requests"),
        remaining_requests=header_int(headers, "x-ratelimit-remaining-requests"),
        reset_requests_s=parse_duration_s(headers.get("x-ratelimit-reset-requests")),
        limit_tokens=header_int(headers, "x-ratelimit-limit-tokens"),
        remaining_tokens=header_int(headers, "x-ratelimit-remaining-tokens"),
        reset_tokens_s=parse_duration_s(headers.get("x-ratelimit-reset-tokens")),
    )
    return None if info == RateLimitInfo() else info


def anthropic_rate_limit(
    headers: Mapping[str, str], clock: Callable[[], float]
) -> RateLimitInfo | None:
    """Anthropic's `anthropic-ratelimit-*` headers; resets are RFC 3339 instants, made relative
    to `clock()` (epoch seconds). Of the `tokens`, `input-tokens` and `output-tokens` windows
    the one with the fewest tokens remaining is reported: it is the one that binds first.
    """
    now = clock()

    def window(name: str) -> tuple[int | None, int | None, float | None]:
        prefix = f"anthropic-ratelimit-{name}-"
        reset_at = parse_rfc3339(headers.get(prefix + "reset"))
        reset_s = None if reset_at is None else max(0.0, reset_at - now)
        return (
            header_int(headers, prefix + "limit"),
            header_int(headers, prefix + "remaining"),
            reset_s,
        )

    requests = window("requests")
    token_windows = [window(n) for n in ("tokens", "input-tokens", "output-tokens")]
    sent = [w for w in token_windows if w != (None, None, None)]
    with_remaining = [w for w in sent if w[1] is not None]
    tokens = (
        min(with_remaining, key=lambda w: w[1] or 0)
        if with_remaining
        else (sent[0] if sent else (None, None, None))
    )
    info = RateLimitInfo(
        limit_requests=requests[0],
        remaining_requests=requests[1],
        reset_requests_s=requests[2],
        limit_tokens=tokens[0],
        remaining_tokens=tokens[1],
        reset_tokens_s=tokens[2],
    )
    return None if info == RateLimitInfo() else info


def exhausted_wait_s(info: RateLimitInfo | None) -> float | None:
    """When a 429 names no wait: the latest reset among windows with nothing remaining.

    The fallback anthropics/anthropic-sdk-typescript#357 proposes for a missing `retry-after`.
    """
    if info is None:
        return None
    waits = [
        reset
        for remaining, reset in (
            (info.remaining_requests, info.reset_requests_s),
            (info.remaining_tokens, info.reset_tokens_s),
        )
        if remaining == 0 and reset is not None
    ]
    return max(waits) if waits else None
