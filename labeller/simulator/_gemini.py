"""Gemini `generateContent`, on the Gemini API and on Vertex AI, read from the public references.

Gemini API: `POST /v1beta/models/{model}:generateContent` with `x-goog-api-key` (or `?key=`).
Vertex AI: `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent`
with a bearer token from the simulator's own `/token`; its limits count per service account.
Bodies are proto JSON, so both camelCase and snake_case field names are read. Errors use
google.rpc.Status; a 429 carries RetryInfo. Written without `labeller.providers`; the official
`google-genai` SDK judges it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from labeller.simulator._engine import Call, Engine, Kind, Outcome
from labeller.simulator._images import Picture, gemini_tokens, open_picture
from labeller.simulator._oauth import TokenStore
from labeller.simulator._wire import IMAGE_MEDIA_TYPES, Reply, WireError, key_hash, text_tokens

__all__ = ["handle_gemini", "handle_vertex"]

_RPC = "type.googleapis.com/google.rpc."
_JSON = {"content-type": "application/json; charset=UTF-8"}
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_BAD_TOKEN = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_VERTEX_QUOTA = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
_INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


def handle_gemini(
    engine: Engine, headers: Mapping[str, str], query: Mapping[str, str], model: str, body: bytes
) -> Reply:
    """Gemini API: the key comes from `x-goog-api-key` or `?key=`."""
    api_key = (headers.get("x-goog-api-key") or query.get("key") or "").strip()
    if not api_key:
        return error(403, "PERMISSION_DENIED", _NO_KEY)
    return _generate(engine, key_hash(api_key), model, body, None)


def handle_vertex(
    engine: Engine,
    tokens: TokenStore,
    headers: Mapping[str, str],
    location: str,
    model: str,
    body: bytes,
    static_tokens: Collection[str] = (),
) -> Reply:
    """Vertex AI: bearer tokens that `/token` issued and that have not expired, or a static one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    owner = None
    if scheme.lower() == "bearer":
        owner = token if token in static_tokens else tokens.owner(token, engine.clock())
    if owner is None:
        return error(401, "UNAUTHENTICATED", _BAD_TOKEN)
    return _generate(engine, owner, model, body, location)


def error(code: int, status: str, message: str, details: list[Any] | None = None) -> Reply:
    """A google.rpc.Status error body."""
    status_body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        status_body["details"] = details
    return Reply(code, {"error": status_body}, dict(_JSON))


def _generate(
    engine: Engine, owner: str, model: str, body: bytes, vertex_location: str | None
) -> Reply:
    try:
        texts, images, max_tokens = _parse(body)
        frames = [_decode(data) for data in images]
    except WireError as exc:
        return error(400, "INVALID_ARGUMENT", str(exc))
    text_count = sum(map(text_tokens, texts))
    image_count = sum(gemini_tokens(p.width, p.height) for p in frames)
    outcome = engine.serve(Call(owner, model, text_count + image_count, frames, max_tokens))
    if outcome.kind is Kind.rate_limited:
        return _rate_limited(outcome, model, vertex_location)
    return _render(outcome, model, text_count, image_count)


def _rate_limited(outcome: Outcome, model: str, vertex_location: str | None) -> Reply:
    """RESOURCE_EXHAUSTED with QuotaFailure (which window) and RetryInfo (when to retry)."""
    decision = outcome.decision
    per = "tokens" if decision.exceeded == "tokens" else "requests"
    limit = decision.limit_tokens if per == "tokens" else decision.limit_requests
    if vertex_location is None:
        message = _QUOTA
        violation = {
            "quotaMetric": f"generativelanguage.googleapis.com/generate_content_{per}",
            "quotaId": f"Generate{per.title()}PerMinutePerProjectPerModel",
            "quotaDimensions": {"location": "global", "model": model},
            "quotaValue": str(limit),
        }
    else:
        message = _VERTEX_QUOTA
        violation = {
            "quotaMetric": f"aiplatform.googleapis.com/generate_content_{per}_per_minute",
            "quotaId": f"Generate{per.title()}PerMinutePerProjectPerBaseModel",
            "quotaDimensions": {"location": vertex_location, "base_model": model},
            "quotaValue": str(limit),
        }
    details = [
        {"@type": f"{_RPC}QuotaFailure", "violations": [violation]},
        {"@type": f"{_RPC}RetryInfo", "retryDelay": f"{max(1, math.ceil(outcome.retry_after_s))}s"},
    ]
    return error(429, "RESOURCE_EXHAUSTED", message, details)


def _render(outcome: Outcome, model: str, text_count: int, image_count: int) -> Reply:
    if outcome.kind is Kind.dropped:
        return Reply(0, drop=True)
    if outcome.kind is Kind.overloaded:
        return error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if outcome.kind is Kind.fault:
        return error(500, "INTERNAL", _INTERNAL)
    answer = {
        "candidates": [
            {
                "content": {"parts": [{"text": outcome.text}], "role": "model"},
                "finishReason": "MAX_TOKENS" if outcome.truncated else "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": outcome.prompt_tokens,
            "candidatesTokenCount": outcome.completion_tokens,
            "totalTokenCount": outcome.prompt_tokens + outcome.completion_tokens,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": text_count},
                {"modality": "IMAGE", "tokenCount": image_count},
            ],
        },
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:22],
    }
    if outcome.kind is Kind.malformed:
        payload = json.dumps(answer).encode("utf-8")
        return Reply(200, headers=dict(_JSON), raw=payload[: len(payload) // 2])
    return Reply(200, answer, dict(_JSON))


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """Proto JSON accepts either spelling of a field name."""
    return obj.get(camel, obj.get(snake))


def _parse(body: bytes) -> tuple[list[str], list[bytes], int | None]:
    """Texts, image bytes and maxOutputTokens; WireError worded as the API words it."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise WireError("Invalid JSON payload received. Unexpected token.") from exc
    if not isinstance(payload, dict):
        raise WireError("Invalid JSON payload received. Expected an object.")
    texts: list[str] = []
    images: list[bytes] = []
    system = _field(payload, "systemInstruction", "system_instruction")
    if isinstance(system, dict):
        _read_parts(system.get("parts"), "system_instruction", texts, images)
    contents = payload.get("contents")
    if not isinstance(contents, list) or not contents:
        raise WireError("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise WireError(f"Invalid value at 'contents[{i}]', expected a Content object.")
        _read_parts(content.get("parts"), f"contents[{i}]", texts, images)
    if not images:
        raise WireError("* contents: the simulator needs an inline_data image part")
    config = _field(payload, "generationConfig", "generation_config")
    if config is not None and not isinstance(config, dict):
        raise WireError("Invalid value at 'generation_config', expected a GenerationConfig.")
    max_tokens = _field(config or {}, "maxOutputTokens", "max_output_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise WireError("Invalid value at 'generation_config.max_output_tokens'.")
    return texts, images, max_tokens


def _read_parts(parts: Any, where: str, texts: list[str], images: list[bytes]) -> None:
    if not isinstance(parts, list) or not parts:
        raise WireError(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty")
    for j, part in enumerate(parts):
        blob = _field(part, "inlineData", "inline_data") if isinstance(part, dict) else None
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(blob, dict):
            mime = _field(blob, "mimeType", "mime_type")
            if mime not in IMAGE_MEDIA_TYPES:
                raise WireError(f"Unsupported MIME type: {mime}")
            try:
                images.append(_b64decode(str(blob.get("data", ""))))
            except binascii.Error as exc:
                raise WireError(
                    f"Invalid value at '{where}.parts[{j}].inline_data.data' (TYPE_BYTES), "
                    "Base64 decoding failed"
                ) from exc
        else:
            raise WireError(f"* {where}.parts[{j}]: the simulator takes text and inline_data only")


def _b64decode(text: str) -> bytes:
    """Proto JSON bytes: standard or URL-safe base64, padding optional."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _decode(data: bytes) -> Picture:
    picture = open_picture(data)
    if picture is None:
        raise WireError(
            "Unable to process input image. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting"
        )
    return picture
