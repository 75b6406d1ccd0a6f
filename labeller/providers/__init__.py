"""VLM providers: one httpx client per wire format and the typed errors they raise.

Wire formats: OpenAI Chat Completions (and OpenAI-compatible servers), Anthropic Messages,
Gemini `generateContent` on the Gemini API or on Vertex AI (a GeminiClient with a token
source). Build clients with `build_client`; nothing outside this package imports httpx.
"""

from __future__ import annotations

from labeller.providers.anthropic import AnthropicClient
from labeller.providers.base import (
    CaptionClient,
    CaptionRequest,
    CaptionResponse,
    RateLimitInfo,
)
from labeller.providers.factory import (
    CREDENTIALS_ENV,
    SERVICE_ACCOUNT_ALIAS,
    SIMULATED_KEY,
    build_client,
    missing_keys,
)
from labeller.providers.gemini import GeminiClient, StaticTokenSource, TokenSource
from labeller.providers.openai import OpenAIClient
from labeller.providers.tokens import estimate_image_tokens, estimate_text_tokens
from labeller.providers.vertex import ServiceAccountTokenSource

__all__ = [
    "CREDENTIALS_ENV",
    "SERVICE_ACCOUNT_ALIAS",
    "SIMULATED_KEY",
    "AnthropicClient",
    "CaptionClient",
    "CaptionRequest",
    "CaptionResponse",
    "GeminiClient",
    "OpenAIClient",
    "RateLimitInfo",
    "ServiceAccountTokenSource",
    "StaticTokenSource",
    "TokenSource",
    "build_client",
    "estimate_image_tokens",
    "estimate_text_tokens",
    "missing_keys",
]
