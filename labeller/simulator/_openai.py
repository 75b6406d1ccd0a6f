"""The OpenAI Chat Completions wire format, read from the public API reference.

Written without `labeller.providers` so that a misreading there is not mirrored here: the
simulator is the second, independent reading that integration tests compare against.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any

from labeller.errors import LabellerError

__all__ = [
    "BAD_IMAGE",
    "ChatRequest",
    "ImagePart",
    "WireError",
    "completion_body",
    "error_body",
    "go_duration",
    "parse_chat_request",
    "text_tokens",
]

_IMAGE_FORMATS = ("png", "jpeg", "jpg", "gif", "webp")
BAD_IMAGE = (
    "You uploaded an unsupported image. Please make sure your image has of one the following "
    "formats: ['png', 'jpeg', 'gif', 'webp']."
)


class WireError(LabellerError):
    """A request the real API refuses with 400; carries its `param` and `code`.

    Private to the simulator: raised while parsing, answered as a 400 by the request handler.
    """

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class ImagePart:
    """One decoded `image_url` part; `detail` is low, high or auto."""

    data: bytes
    detail: str


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat completion request the simulator acts on."""

    model: str
    texts: list[str] = field(default_factory=list)
    images: list[ImagePart] = field(default_factory=list)
    max_tokens: int | None = None


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope: every non-2xx answer has exactly these four keys."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def text_tokens(text: str) -> int:
    """Rough tokenizer: four characters a token, as OpenAI's own rule of thumb."""
    return math.ceil(len(text) / 4)


def go_duration(seconds: float) -> str:
    """Format like Go's time.Duration, as `x-ratelimit-reset-*` does: 120ms, 1.2s, 6m0s."""
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
    images: list[ImagePart] = []
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


def _read_content(content: Any, param: str, texts: list[str], images: list[ImagePart]) -> None:
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


def _read_image(image_url: dict[str, Any], param: str) -> ImagePart:
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
    return ImagePart(data=data, detail=detail)


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
