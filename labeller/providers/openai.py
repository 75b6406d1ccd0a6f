"""OpenAI Chat Completions, which OpenAI-compatible servers (vLLM, Ollama, ...) speak too.

`POST {base}/chat/completions` (the base includes `/v1`) with a bearer key; rate limits come
back as `x-ratelimit-*` headers whose resets are Go durations (`6m0s`).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from pydantic import SecretStr

from labeller.providers._errors import error_for_response, error_for_transport, malformed
from labeller.providers._headers import (
    exhausted_wait_s,
    openai_rate_limit,
    retry_after_s,
    select_headers,
)
from labeller.providers.base import CaptionRequest, CaptionResponse

__all__ = ["OpenAIClient"]

_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "retry-after")


class OpenAIClient:
    """One provider route: an httpx client built by the caller (base_url, timeouts), a model."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        provider: str,
        model: str,
        api_key: SecretStr | None,
        key_alias: str | None,
        detail: str = "low",
        max_tokens: int = 120,
    ) -> None:
        self._http = http
        self._provider = provider
        self._model = model
        self._api_key = api_key
        self.key_alias = key_alias
        self._detail = detail
        self._max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"OpenAIClient(provider={self._provider!r}, model={self._model!r})"

    def _body(self, request: CaptionRequest) -> dict[str, Any]:
        data_uri = f"data:{request.media_type};base64,{base64.b64encode(request.image).decode()}"
        return {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": request.prompt},
                        {
                            "type": "image_url",
                            "image_url": {"url": data_uri, "detail": self._detail},
                        },
                    ],
                }
            ],
        }

    def caption(self, request: CaptionRequest) -> CaptionResponse:
        headers = {}
        secret = self._api_key.get_secret_value() if self._api_key else None
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        try:
            response = self._http.post(
                "chat/completions", json=self._body(request), headers=headers
            )
        except httpx.HTTPError as exc:
            raise error_for_transport(self._provider, exc) from exc
        if response.status_code != 200:
            wait = retry_after_s(response.headers)
            if wait is None and response.status_code == 429:
                wait = exhausted_wait_s(openai_rate_limit(response.headers))
            raise error_for_response(self._provider, response, secret=secret, retry_after=wait)
        return self._parse(response, secret)

    def _parse(self, response: httpx.Response, secret: str | None) -> CaptionResponse:
        try:
            body = response.json()
            caption = body["choices"][0]["message"]["content"]
            usage = body.get("usage") or {}
            if not isinstance(caption, str) or not caption.strip():
                raise TypeError("empty caption")
            return CaptionResponse(
                caption=caption.strip(),
                model=str(body.get("model") or self._model),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                rate_limit_headers=select_headers(response.headers, _RATE_LIMIT_PREFIXES),
                rate_limit=openai_rate_limit(response.headers),
            )
        # JSON and UTF-8 decoding errors are ValueErrors; a list body raises TypeError.
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self._provider, exc, secret) from exc
