"""Gemini `generateContent`, on the Gemini API (API key) or on Vertex AI (bearer token).

Gemini API: `POST {base}/v1beta/models/{model}:generateContent` with `x-goog-api-key`.
Vertex AI: `POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{model}
:generateContent` with `Authorization: Bearer`, the token from a TokenSource. Same body and
answer on both. Neither sends rate-limit headers; a 429 may say its wait in the body
(`google.rpc.RetryInfo.retryDelay`, a protobuf Duration such as `13s` or `13.5s`).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from labeller.errors import AuthError, BadRequest
from labeller.providers._errors import (
    error_for_response,
    error_for_transport,
    malformed,
    read_error,
    redact,
)
from labeller.providers._headers import retry_after_s
from labeller.providers.base import CaptionRequest, CaptionResponse

__all__ = ["GeminiClient", "StaticTokenSource", "TokenSource", "retry_delay_s"]

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
#: ErrorInfo reasons that condemn the key rather than the request.
_KEY_REASONS = frozenset({"API_KEY_INVALID"})
_PROTO_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")


class TokenSource(Protocol):
    """Where a Vertex AI client gets its bearer token."""

    def token(self) -> str:
        """A token good for the next call, refreshed if needed; raises a ProviderError."""
        ...


class StaticTokenSource:
    """A fixed token: the simulator's, or one minted elsewhere. Never shown by repr."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenSource(token='**********')"

    def token(self) -> str:
        return self._token.get_secret_value()


def _error_reason(details: list[Any]) -> str | None:
    """The `reason` of a `google.rpc.ErrorInfo` entry of an error's `details`."""
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == _ERROR_INFO:
            reason = detail.get("reason")
            return reason if isinstance(reason, str) else None
    return None


def retry_delay_s(details: list[Any]) -> float | None:
    """Seconds from a `google.rpc.RetryInfo` entry of an error's `details`, or None."""
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            match = _PROTO_DURATION.fullmatch(delay) if isinstance(delay, str) else None
            if match:
                return float(match.group(1))
    return None


class GeminiClient:
    """One Gemini route. With `token_source` it speaks to Vertex AI (`project` required),
    otherwise to the Gemini API with `api_key` (or no key, for a keyless proxy).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        provider: str,
        model: str,
        key_alias: str | None,
        api_key: SecretStr | None = None,
        token_source: TokenSource | None = None,
        project: str | None = None,
        location: str = "us-central1",
        max_tokens: int = 120,
    ) -> None:
        if token_source is not None and not project:
            raise ValueError(f"{provider}: a Vertex AI client needs a project")
        self._http = http
        self._provider = provider
        self._model = model
        self.key_alias = key_alias
        self._api_key = api_key
        self._token_source = token_source
        self._max_tokens = max_tokens
        name = model if "/" in model else f"models/{model}"  # `tunedModels/...` as given
        if token_source is None:
            self._path = f"v1beta/{name}:generateContent"
        else:
            self._path = (
                f"v1/projects/{project}/locations/{location}/publishers/google/"
                f"{name}:generateContent"
            )

    def __repr__(self) -> str:
        api = "vertex" if self._token_source is not None else "gemini"
        return f"GeminiClient(provider={self._provider!r}, model={self._model!r}, api={api!r})"

    def _body(self, request: CaptionRequest) -> dict[str, Any]:
        image = {"mime_type": request.media_type, "data": base64.b64encode(request.image).decode()}
        return {
            "contents": [
                {"role": "user", "parts": [{"text": request.prompt}, {"inline_data": image}]}
            ],
            "generationConfig": {"maxOutputTokens": self._max_tokens},
        }

    def _auth(self) -> tuple[dict[str, str], str | None]:
        if self._token_source is not None:
            token = self._token_source.token()
            return {"Authorization": f"Bearer {token}"}, token
        if self._api_key is not None:
            key = self._api_key.get_secret_value()
            return {"x-goog-api-key": key}, key
        return {}, None

    def caption(self, request: CaptionRequest) -> CaptionResponse:
        headers, secret = self._auth()
        try:
            response = self._http.post(self._path, json=self._body(request), headers=headers)
        except httpx.HTTPError as exc:
            raise error_for_transport(self._provider, exc) from exc
        if response.status_code != 200:
            body = read_error(response)
            if response.status_code == 400 and _error_reason(body.details) in _KEY_REASONS:
                # The Gemini API answers a bad key with 400 INVALID_ARGUMENT: it is the key
                # that is wrong, not the frame, so the router must stop using the key.
                text = f"HTTP 400 {body.type}: {redact(body.message, secret)}"
                raise AuthError(self._provider, text, status=400)
            wait = retry_delay_s(body.details)
            if wait is None:
                wait = retry_after_s(response.headers)
            raise error_for_response(self._provider, response, secret=secret, retry_after=wait)
        return self._parse(response, secret)

    def _parse(self, response: httpx.Response, secret: str | None) -> CaptionResponse:
        try:
            body = response.json()
            caption = self._caption(body)
            usage = body.get("usageMetadata") or {}
            return CaptionResponse(
                caption=caption,
                model=str(body.get("modelVersion") or self._model),
                prompt_tokens=int(usage.get("promptTokenCount", 0)),
                # Thinking models bill their thoughts as output, outside candidatesTokenCount.
                completion_tokens=int(usage.get("candidatesTokenCount", 0))
                + int(usage.get("thoughtsTokenCount", 0)),
                rate_limit_headers={},
                rate_limit=None,
            )
        # JSON and UTF-8 decoding errors are ValueErrors; a list body raises TypeError.
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self._provider, exc, secret) from exc

    def _caption(self, body: Any) -> str:
        """The joined text parts of the first candidate; BadRequest if the answer was blocked."""
        candidates = body.get("candidates")
        if not candidates:
            feedback = body.get("promptFeedback") or {}
            reason = feedback.get("blockReason")
            if reason:
                raise BadRequest(
                    self._provider, f"prompt blocked: blockReason {reason}", status=200
                )
            raise KeyError("candidates")
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        texts = [p["text"] for p in parts if "text" in p and not p.get("thought")]
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("text part without a string")
        caption = "".join(texts).strip()
        reason = candidate.get("finishReason")
        if not caption and reason and reason != "STOP":
            raise BadRequest(self._provider, f"no caption: finishReason {reason}", status=200)
        if not caption:
            raise ValueError(f"empty caption (finishReason {reason})")
        return caption
