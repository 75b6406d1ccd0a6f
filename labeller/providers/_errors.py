"""Translate HTTP statuses, error bodies and httpx exceptions into the typed ProviderError set.

One table for every wire format: the status decides, and the body's error type (Anthropic's
`error.type`, Google's `error.status`) only breaks ties for statuses the table does not name.
Messages carry the provider's own words, cut short and with anything key-shaped masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from labeller.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    ProviderError,
    RateLimited,
    Transient,
)
from labeller.providers._headers import retry_after_s

__all__ = [
    "ErrorBody",
    "error_for_response",
    "error_for_status",
    "error_for_transport",
    "malformed",
    "read_error",
    "redact",
]

#: Longest provider message kept in an error, in characters.
MESSAGE_LIMIT = 300
#: Anything shaped like an API key (OpenAI, Anthropic, Google) or a Google OAuth access token,
#: in case a server echoes one.
_KEY_LIKE = re.compile(r"(sk-(?:proj-|ant-)?|AIza|ya29\.)[A-Za-z0-9_\-.]{8,}")
#: Body error types that mean "slow down" or "shed load" whatever the status says.
_RATE_LIMIT_TYPES = frozenset({"rate_limit_error", "RESOURCE_EXHAUSTED"})
_OVERLOAD_TYPES = frozenset({"overloaded_error", "UNAVAILABLE"})
#: Statuses the table maps on their own; for any other, the body's error type decides.
_MAPPED = frozenset({400, 401, 403, 404, 413, 422, 429, *range(500, 600)})


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret` and anything key-shaped masked: messages end up in rows and logs."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub(lambda m: m.group(1) + "***", text)


@dataclass(frozen=True)
class ErrorBody:
    """What an error response's body says: its type or status name, message, Google details."""

    type: str | None
    message: str
    details: list[Any]


def read_error(response: httpx.Response) -> ErrorBody:
    """Parse `{"error": {...}}` (OpenAI, Anthropic, Google; Google may wrap it in a list)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ErrorBody(None, response.text[:MESSAGE_LIMIT] or response.reason_phrase, [])
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ErrorBody(None, str(body)[:MESSAGE_LIMIT], [])
    kind = error.get("type") or error.get("status")
    message = error.get("message")
    details = error.get("details")
    return ErrorBody(
        kind if isinstance(kind, str) else None,
        message[:MESSAGE_LIMIT] if isinstance(message, str) else str(error)[:MESSAGE_LIMIT],
        details if isinstance(details, list) else [],
    )


def error_for_status(
    provider: str,
    status: int,
    message: str,
    *,
    error_type: str | None = None,
    retry_after_s: float | None = None,
) -> ProviderError:
    """The typed error for an HTTP status (and the body's error type, for unusual statuses)."""
    if status == 429 or (status not in _MAPPED and error_type in _RATE_LIMIT_TYPES):
        return RateLimited(provider, message, status=status, retry_after_s=retry_after_s)
    if status in (503, 529) or (status not in _MAPPED and error_type in _OVERLOAD_TYPES):
        return Overloaded(provider, message, status=status)
    if status in (401, 403):
        return AuthError(provider, message, status=status)
    if status in (400, 404, 413, 422):
        return BadRequest(provider, message, status=status)
    return Transient(provider, message, status=status)


def error_for_response(
    provider: str,
    response: httpx.Response,
    *,
    secret: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The typed error for a non-2xx response, with the provider's own message (redacted).

    `retry_after` (seconds) wins over the `retry-after` headers: Gemini says it in the body.
    """
    body = read_error(response)
    label = f"HTTP {response.status_code}" + (f" {body.type}" if body.type else "")
    wait = retry_after if retry_after is not None else retry_after_s(response.headers)
    return error_for_status(
        provider,
        response.status_code,
        f"{label}: {redact(body.message, secret)}",
        error_type=body.type,
        retry_after_s=wait,
    )


def error_for_transport(provider: str, exc: httpx.HTTPError) -> ProviderError:
    """Timeouts and connection failures are transient; the exception type is named, no header."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return Transient(provider, f"{kind} ({type(exc).__name__})")


def malformed(provider: str, exc: Exception, secret: str | None = None) -> Transient:
    """A 200 whose body is not what the wire format promises: worth another try elsewhere."""
    return Transient(provider, f"malformed response body ({redact(str(exc), secret)[:200]})")
