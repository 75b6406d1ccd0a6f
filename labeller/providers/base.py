"""The common shape of a caption call, whatever the wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["CaptionClient", "CaptionRequest", "CaptionResponse"]


@dataclass(frozen=True)
class CaptionRequest:
    prompt: str
    image: bytes
    #: `image/png` or `image/jpeg`.
    media_type: str


@dataclass(frozen=True)
class CaptionResponse:
    caption: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    #: Rate-limit headers as the provider sent them, lower-cased names.
    rate_limit_headers: dict[str, str] = field(default_factory=dict)


class CaptionClient(Protocol):
    #: Name of the env var the key came from (or None): recorded on each Attempt.
    key_alias: str | None

    def caption(self, request: CaptionRequest) -> CaptionResponse:
        """One call; raises a ProviderError subclass on any failure."""
        ...
