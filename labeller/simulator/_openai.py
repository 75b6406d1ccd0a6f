"""OpenAI Chat Completions (`POST /v1/chat/completions`), read from the public API reference.

Written without `labeller.providers` so that a misreading there is not mirrored here: the
simulator is the second, independent reading, and the official `openai` SDK judges both.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labeller.simulator._engine import Call, Engine, Kind, Outcome
from labeller.simulator._images import open_picture, openai_tokens
from labeller.simulator._limits import Decision
from labeller.simulator._wire import Reply, WireError, key_hash, text_tokens

__all__ = ["ChatRequest", "error_body", "go_duration", "handle", "parse_chat_request"]

_IMAGE_FORMATS = ("png", "jpeg", "jpg", "gif", "webp")
BAD_IMAGE = (
    "You uploaded an unsupported image. Please make sure your image has of one the following "
    "formats: ['png', 'jpeg', 'gif', 'webp']."
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_LIMITS_URL = "Visit https://platform.openai.com/account/rate-limits to learn more."
_FAULT = "The server had an error while processing your request. Sorry about that!"
_OVERLOADED = "The engine is currently overloaded, please try again later."


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat completion request the simulator acts on."""

    model: str
    texts: list[str]
    #: Image bytes with their `detail` (low, high or auto).
    images: list[tuple[bytes, str]]
    max_tokens: int | None


def handle(engine: Engine, headers: Mapping[str, str], body: bytes) -> Reply:
    """Answer one chat completion request; `headers` has lower-case names."""
    scheme, _, api_key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not api_key.strip():
        return Reply(401, error_body(_NO_KEY, "invalid_request_error", code="invalid_api_key"))
    try:
        prompt = parse_chat_request(body)
        frames = []
        for data, _ in prompt.images:
            picture = open_picture(data)
            if picture is None:
                raise WireError(BAD_IMAGE, param="messages", code="invalid_image_format")
            frames.append(picture)
    except WireError as exc:
        error = error_body(str(exc), "invalid_request_error", param=exc.param, code=exc.code)
        return Reply(400, error)
    prompt_tokens = sum(text_tokens(text) for text in prompt.texts) + sum(
        openai_tokens(picture.width, picture.height, detail)
        for picture, (_, detail) in zip(frames, prompt.images, strict=True)
    )
    call = Call(key_hash(api_key.strip()), prompt.model, prompt_tokens, frames, prompt.max_tokens)
    return _render(engine.serve(call), prompt.model)


def _render(outcome: Outcome, model: str) -> Reply:
    if outcome.kind is Kind.dropped:
        return Reply(0, drop=True)
    headers = _limit_headers(outcome.decision)
    if outcome.kind is Kind.rate_limited:
        return _rate_limited(model, outcome, headers)
    if outcome.kind is Kind.overloaded:
        return Reply(503, error_body(_OVERLOADED, "server_error"), headers)
    headers["openai-processing-ms"] = str(round(outcome.latency_ms))
    if outcome.kind is Kind.fault:
        return Reply(500, error_body(_FAULT, "server_error"), headers)
    answer = completion_body(
        request_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
        created=int(outcome.now),
        model=model,
        content=outcome.text,
        finish_reason="length" if outcome.truncated else "stop",
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
    )
    if outcome.kind is Kind.malformed:
        payload = json.dumps(answer).encode("utf-8")
        return Reply(200, headers=headers, raw=payload[: len(payload) // 2])
    return Reply(200, answer, headers)


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope: every non-2xx answer has exactly these four keys."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def go_duration(seconds: float) -> str:
    """Format like Go's time.Duration, as `x-ratelimit-reset-*` does: 120ms, 1.5s, 6m0s."""
    ms = max(0, math.ceil(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    hours, rest_ms = divmod(ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    secs = f"{rest_ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def _limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(decision.limit_requests),
        "x-ratelimit-remaining-requests": str(decision.remaining_requests),
        "x-ratelimit-reset-requests": go_duration(decision.reset_requests_s),
        "x-ratelimit-limit-tokens": str(decision.limit_tokens),
        "x-ratelimit-remaining-tokens": str(decision.remaining_tokens),
        "x-ratelimit-reset-tokens": go_duration(decision.reset_tokens_s),
    }


def _rate_limited(model: str, outcome: Outcome, headers: dict[str, str]) -> Reply:
    decision, wait_s = outcome.decision, outcome.retry_after_s
    where = f"Rate limit reached for {model} in organization org-simulator on"
    wait = f"Please try again in {go_duration(wait_s)}."
    if decision.too_large:
        kind = "tokens"
        message = (
            f"Request too large for {model} in organization org-simulator on tokens per min "
            f"(TPM): Limit {decision.limit_tokens}, Requested {decision.requested_tokens}. "
            f"The input or output tokens must be reduced in order to run successfully. "
            f"{_LIMITS_URL}"
        )
    elif decision.exceeded == "tokens":
        kind = "tokens"
        message = (
            f"{where} tokens per min (TPM): Limit {decision.limit_tokens}, Used "
            f"{decision.used_tokens}, Requested {decision.requested_tokens}. {wait} {_LIMITS_URL}"
        )
    else:
        kind = "requests"
        message = (
            f"{where} requests per min (RPM): Limit {decision.limit_requests}, Used "
            f"{decision.used_requests}, Requested 1. {wait} {_LIMITS_URL}"
        )
    headers["retry-after"] = str(max(1, math.ceil(wait_s)))
    headers["retry-after-ms"] = str(max(1, math.ceil(wait_s * 1000)))
    return Reply(429, error_body(message, kind, code="rate_limit_exceeded"), headers)


def completion_body(
    *,
    request_id: str,
    created: int,
    model: str,
    content: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
    """A `chat.completion` object with one choice, as the API returns for n=1."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_sim",
    }


def parse_chat_request(body: bytes) -> ChatRequest:
    """Validate a request body; raises WireError with the message the real API would give."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise WireError(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from exc
    if not isinstance(payload, dict):
        raise WireError("Invalid type for request body: expected an object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("You must provide a model parameter.", param="model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    texts: list[str] = []
    images: list[tuple[bytes, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise WireError(f"Invalid value for 'messages[{i}]'.", param=f"messages[{i}]")
        _read_content(message.get("content"), f"messages[{i}].content", texts, images)
    if not images:
        raise WireError(
            "The simulator needs an image_url part with a base64 data URL.",
            param="messages",
            code="invalid_image_format",
        )
    max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise WireError("Invalid 'max_tokens': expected a positive integer.", param="max_tokens")
    return ChatRequest(model=model, texts=texts, images=images, max_tokens=max_tokens)


def _read_content(
    content: Any, param: str, texts: list[str], images: list[tuple[bytes, str]]
) -> None:
    if isinstance(content, str):
        texts.append(content)
        return
    if not isinstance(content, list):
        raise WireError(f"Invalid type for '{param}'.", param=param)
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            images.append(_read_image(part["image_url"], where))
        else:
            raise WireError(f"Invalid content part at '{where}'.", param=where)


def _read_image(image_url: dict[str, Any], param: str) -> tuple[bytes, str]:
    url = image_url.get("url")
    detail = image_url.get("detail", "auto")
    if detail not in ("low", "high", "auto"):
        raise WireError(f"Invalid value for '{param}.image_url.detail'.", param=param)
    if not isinstance(url, str) or not url.startswith("data:image/"):
        raise WireError(BAD_IMAGE, param=param, code="invalid_image_format")
    header, _, encoded = url.partition(",")
    media = header.removeprefix("data:image/").removesuffix(";base64")
    if not header.endswith(";base64") or media not in _IMAGE_FORMATS:
        raise WireError(BAD_IMAGE, param=param, code="invalid_image_format")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise WireError(BAD_IMAGE, param=param, code="invalid_image_format") from exc
    return data, detail
