"""VLM providers: one httpx client per wire format and the typed errors they raise."""

from __future__ import annotations

from labeller.providers.base import (
    CaptionClient,
    CaptionRequest,
    CaptionResponse,
    RateLimitInfo,
)
from labeller.providers.factory import SIMULATED_KEY, build_client, missing_keys
from labeller.providers.openai import OpenAIClient

__all__ = [
    "SIMULATED_KEY",
    "CaptionClient",
    "CaptionRequest",
    "CaptionResponse",
    "OpenAIClient",
    "RateLimitInfo",
    "build_client",
    "missing_keys",
]
