"""Anthropic Messages (`POST /v1/messages`), read from the public API reference.

Auth is `x-api-key`, or `Authorization: Bearer` as the 2.x SDK sends the same key;
`anthropic-version` is required. Every answer carries `request-id` and the
`anthropic-ratelimit-*` headers, resets as RFC 3339 times. The simulator has one token window
per key and model (prompt plus completion), so the `-tokens-`, `-input-tokens-` and
`-output-tokens-` families all report it. Written without `labeller.providers`; the official
`anthropic` SDK judges it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

from labeller.simulator._engine import Call, Engine, Kind, Outcome
from labeller.simulator._images import Picture, anthropic_tokens, open_picture
from labeller.simulator._wire import IMAGE_MEDIA_TYPES, Reply, WireError, key_hash, text_tokens

__all__ = ["handle"]

_LIMITS = (
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the "
    "response headers for current usage. Please reduce the prompt length or the maximum tokens "
    "requested, or try again later."
)


def handle(engine: Engine, headers: Mapping[str, str], body: bytes) -> Reply:
    """Answer one Messages request; `headers` has lower-case names."""
    request_id = f"req_sim{uuid.uuid4().hex[:20]}"
    api_key = headers.get("x-api-key", "").strip()
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    if not api_key and scheme.lower() == "bearer":
        # anthropic SDK 2.x sends the API key as `Authorization: Bearer`, not `x-api-key`.
        api_key = bearer.strip()
    if not api_key:
        reply = _error(401, "authentication_error", "x-api-key header is required", request_id)
    elif not headers.get("anthropic-version", "").strip():
        message = "anthropic-version: header is required"
        reply = _error(400, "invalid_request_error", message, request_id)
    else:
        try:
            model, texts, images, max_tokens = _parse(body)
            frames = [_decode(data, where) for data, where in images]
        except WireError as exc:
            reply = _error(400, "invalid_request_error", str(exc), request_id)
        else:
            tokens = sum(map(text_tokens, texts))
            tokens += sum(anthropic_tokens(p.width, p.height) for p in frames)
            outcome = engine.serve(Call(key_hash(api_key), model, tokens, frames, max_tokens))
            reply = _render(outcome, model, request_id)
    reply.headers["request-id"] = request_id
    return reply


def _render(outcome: Outcome, model: str, request_id: str) -> Reply:
    if outcome.kind is Kind.dropped:
        return Reply(0, drop=True)
    decision = outcome.decision
    headers = {
        "anthropic-ratelimit-requests-limit": str(decision.limit_requests),
        "anthropic-ratelimit-requests-remaining": str(decision.remaining_requests),
        "anthropic-ratelimit-requests-reset": _rfc3339(outcome.now + decision.reset_requests_s),
    }
    for family in ("tokens", "input-tokens", "output-tokens"):
        prefix = f"anthropic-ratelimit-{family}"
        headers[f"{prefix}-limit"] = str(decision.limit_tokens)
        headers[f"{prefix}-remaining"] = str(decision.remaining_tokens)
        headers[f"{prefix}-reset"] = _rfc3339(outcome.now + decision.reset_tokens_s)
    if outcome.kind is Kind.rate_limited:
        if decision.exceeded == "tokens":
            what = f"{decision.limit_tokens} tokens per minute"
        else:
            what = f"{decision.limit_requests} requests per minute"
        message = (
            f"This request would exceed the rate limit for your organization (org-simulator) of "
            f"{what} (model: {model}). {_LIMITS}"
        )
        headers["retry-after"] = str(max(1, math.ceil(outcome.retry_after_s)))
        return _error(429, "rate_limit_error", message, request_id, headers)
    if outcome.kind is Kind.overloaded:
        return _error(529, "overloaded_error", "Overloaded", request_id, headers)
    if outcome.kind is Kind.fault:
        return _error(500, "api_error", "Internal server error", request_id, headers)
    answer = {
        "id": f"msg_sim{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": outcome.text}],
        "stop_reason": "max_tokens" if outcome.truncated else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": outcome.prompt_tokens,
            "output_tokens": outcome.completion_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }
    if outcome.kind is Kind.malformed:
        payload = json.dumps(answer).encode("utf-8")
        return Reply(200, headers=headers, raw=payload[: len(payload) // 2])
    return Reply(200, answer, headers)


def _error(
    status: int,
    type_: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    return Reply(status, body, headers or {})


def _rfc3339(epoch_s: float) -> str:
    """Whole seconds, rounded up so a client waiting until then is never early."""
    when = dt.datetime.fromtimestamp(math.ceil(epoch_s), tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(body: bytes) -> tuple[str, list[str], list[tuple[bytes, str]], int]:
    """Model, texts, (image bytes, location) and max_tokens; WireError as the API words it."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise WireError("There was an error parsing the body of your request.") from exc
    if not isinstance(payload, dict):
        raise WireError("Input should be an object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("model: Field required")
    max_tokens = payload.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise WireError("max_tokens: Field required (an integer of at least 1)")
    texts: list[str] = []
    system = payload.get("system")
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(b["text"] for b in system if isinstance(b, dict) and "text" in b)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError("messages: Field required")
    images: list[tuple[bytes, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise WireError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        if not isinstance(content, list):
            raise WireError(f"messages.{i}.content: Input should be a valid list")
        for j, block in enumerate(content):
            where = f"messages.{i}.content.{j}"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "image":
                images.append((_image_bytes(block.get("source"), where), where))
            else:
                raise WireError(f"{where}: Input tag {kind!r} found using 'type' is not supported")
    if not images:
        raise WireError("messages: the simulator needs an image block with a base64 source")
    return model, texts, images, max_tokens


def _image_bytes(source: Any, where: str) -> bytes:
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise WireError(f"{where}.image.source: the simulator takes only base64 sources")
    media_type = source.get("media_type")
    if media_type not in IMAGE_MEDIA_TYPES:
        allowed = ", ".join(repr(t) for t in IMAGE_MEDIA_TYPES)
        raise WireError(f"{where}.image.source.base64.media_type: Input should be {allowed}")
    try:
        return base64.b64decode(str(source.get("data", "")), validate=True)
    except binascii.Error as exc:
        raise WireError(f"{where}.image.source.base64.data: invalid base64 data") from exc


def _decode(data: bytes, where: str) -> Picture:
    picture = open_picture(data)
    if picture is None:
        raise WireError(f"{where}.image.source.base64.data: Could not process image")
    return picture
