"""Translate HTTP statuses and httpx exceptions into the typed ProviderError set."""

from __future__ import annotations

import json
import math
import re

import httpx

from labeller.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    ProviderError,
    RateLimited,
    Transient,
)

__all__ = ["error_for_response", "error_for_transport", "redact", "retry_after_s"]

#: Longest provider message kept in an error, in characters.
MESSAGE_LIMIT = 300
#: Anything shaped like an API key (OpenAI, Anthropic, Google), in case a server echoes one.
_KEY_LIKE = re.compile(r"(sk-(?:proj-|ant-)?|AIza)[A-Za-z0-9_\-]{8,}")


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret` and anything key-shaped masked: messages end up in rows and logs."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub(lambda m: m.group(1) + "***", text)


def retry_after_s(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds form only)."""
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:MESSAGE_LIMIT] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:MESSAGE_LIMIT]
    return str(body)[:MESSAGE_LIMIT]


def error_for_response(
    provider: str, response: httpx.Response, *, secret: str | None = None
) -> ProviderError:
    """The typed error for a non-2xx response, carrying the provider's own message (redacted)."""
    status = response.status_code
    text = f"HTTP {status}: {redact(_message(response), secret)}"
    if status == 429:
        return RateLimited(provider, text, retry_after_s=retry_after_s(response.headers))
    if status in (503, 529):
        return Overloaded(provider, text, status=status)
    if status in (401, 403):
        return AuthError(provider, text, status=status)
    if status in (400, 404, 413, 422):
        return BadRequest(provider, text, status=status)
    return Transient(provider, text, status=status)


def error_for_transport(provider: str, exc: httpx.HTTPError) -> ProviderError:
    """Timeouts and connection failures are transient; the URL is named, never a header."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return Transient(provider, f"{kind} ({type(exc).__name__})")
