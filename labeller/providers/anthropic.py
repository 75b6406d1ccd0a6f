"""Anthropic Messages API: `POST {base}/v1/messages` with `x-api-key` and `anthropic-version`.

Rate limits come back as `anthropic-ratelimit-*` headers whose resets are RFC 3339 instants;
the client turns them into seconds with an injected clock, so tests need no wall time.
Errors arrive as `{"type": "error", "error": {"type", "message"}}`; 529 is `overloaded_error`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from labeller.errors import BadRequest
from labeller.providers._errors import error_for_response, error_for_transport, malformed
from labeller.providers._headers import (
    anthropic_rate_limit,
    exhausted_wait_s,
    retry_after_s,
    select_headers,
)
from labeller.providers.base import CaptionRequest, CaptionResponse

__all__ = ["AnthropicClient"]

_RATE_LIMIT_PREFIXES = ("anthropic-ratelimit-", "retry-after")


class AnthropicClient:
    """One Anthropic route: an httpx client built by the caller (base_url, timeouts), a model."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        provider: str,
        model: str,
        api_key: SecretStr | None,
        key_alias: str | None,
        anthropic_version: str = "2023-06-01",
        max_tokens: int = 120,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` gives epoch seconds; rate-limit resets are measured from it."""
        self._http = http
        self._provider = provider
        self._model = model
        self._api_key = api_key
        self.key_alias = key_alias
        self._version = anthropic_version
        self._max_tokens = max_tokens
        self._clock = clock

    def __repr__(self) -> str:
        return f"AnthropicClient(provider={self._provider!r}, model={self._model!r})"

    def _body(self, request: CaptionRequest) -> dict[str, Any]:
        image = {
            "type": "base64",
            "media_type": request.media_type,
            "data": base64.b64encode(request.image).decode(),
        }
        return {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": image},
                        {"type": "text", "text": request.prompt},
                    ],
                }
            ],
        }

    def caption(self, request: CaptionRequest) -> CaptionResponse:
        headers = {"anthropic-version": self._version}
        secret = self._api_key.get_secret_value() if self._api_key else None
        if secret is not None:
            headers["x-api-key"] = secret
        try:
            response = self._http.post("v1/messages", json=self._body(request), headers=headers)
        except httpx.HTTPError as exc:
            raise error_for_transport(self._provider, exc) from exc
        if response.status_code != 200:
            wait = retry_after_s(response.headers)
            if wait is None and response.status_code == 429:
                wait = exhausted_wait_s(anthropic_rate_limit(response.headers, self._clock))
            raise error_for_response(self._provider, response, secret=secret, retry_after=wait)
        return self._parse(response, secret)

    def _parse(self, response: httpx.Response, secret: str | None) -> CaptionResponse:
        try:
            body = response.json()
            blocks = body["content"]
            if not isinstance(blocks, list):
                raise TypeError("content is not a list")
            texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
            if not all(isinstance(t, str) for t in texts):
                raise TypeError("text block without a string")
            caption = "".join(texts).strip()
            stop_reason = body.get("stop_reason")
            if not caption and stop_reason == "refusal":
                raise BadRequest(self._provider, "no caption: stop_reason refusal", status=200)
            if not caption:
                raise TypeError(f"empty caption (stop_reason {stop_reason})")
            usage = body.get("usage") or {}
            return CaptionResponse(
                caption=caption,
                model=str(body.get("model") or self._model),
                prompt_tokens=int(usage.get("input_tokens", 0)),
                completion_tokens=int(usage.get("output_tokens", 0)),
                rate_limit_headers=select_headers(response.headers, _RATE_LIMIT_PREFIXES),
                rate_limit=anthropic_rate_limit(response.headers, self._clock),
            )
        # JSON and UTF-8 decoding errors are ValueErrors; a list body raises TypeError.
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self._provider, exc, secret) from exc
