"""Shared pieces of the wire-format tests: a recording MockTransport handler and a tiny PNG."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from labeller.errors import ProviderError
from labeller.providers import CaptionClient, CaptionRequest, CaptionResponse

Handler = Callable[[httpx.Request], httpx.Response]
PROMPT = "Describe the motion in this event frame."


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (255, 128, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


class Recorder:
    """Answers every request with `handler` and keeps the requests it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    """A handler answering `status` with a JSON `body` (dict or list) or raw bytes."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=body or b"", headers=headers)

    return handler


def call(client: CaptionClient) -> CaptionResponse:
    return client.caption(CaptionRequest(PROMPT, PNG, "image/png"))


def failure(client: CaptionClient, *secrets: str) -> ProviderError:
    """The ProviderError a call raises; none of `secrets` may appear in its text or repr."""
    with pytest.raises(ProviderError) as caught:
        call(client)
    for secret in secrets:
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
    return caught.value
