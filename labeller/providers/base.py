"""The common shape of a caption call, whatever the wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["CaptionClient", "CaptionRequest", "CaptionResponse", "RateLimitInfo"]


@dataclass(frozen=True)
class CaptionRequest:
    prompt: str
    image: bytes
    #: `image/png` or `image/jpeg`.
    media_type: str


@dataclass(frozen=True)
class RateLimitInfo:
    """What a provider's headers said of the key's remaining capacity; None where silent.

    Resets are seconds from the response (OpenAI's `6m0s`, Anthropic's RFC 3339 instants and
    plain seconds all end up here).
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None


@dataclass(frozen=True)
class CaptionResponse:
    caption: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    #: Rate-limit headers as the provider sent them, lower-cased names.
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    #: The same, parsed.
    rate_limit: RateLimitInfo | None = None


class CaptionClient(Protocol):
    #: Name of the env var the key came from (or None): recorded on each Attempt.
    key_alias: str | None

    def caption(self, request: CaptionRequest) -> CaptionResponse:
        """One call; raises a ProviderError subclass on any failure."""
        ...
