"""Helpers of the simulator tests: frames, request bodies of each format, a served client."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
from PIL import Image

from labeller.simulator import ModelProfile, SimulatorConfig, SimulatorServer
from tests.support import FakeClock

#: Latency 0, so no test waits on the simulator.
INSTANT = ModelProfile(latency_ms=0.0, latency_jitter_ms=0.0)
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
VERTEX_PATH = (
    "/v1/projects/sim-project/locations/us-central1/publishers/google/models/"
    f"{GEMINI_MODEL}:generateContent"
)


def png(width: int, height: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    """A white frame with a blue (ON) block at box = (x0, y0, x1, y1)."""
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        pixels[y0:y1, x0:x1] = (0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def openai_body(
    image: bytes, *, text: str = "Describe.", detail: str = "low", max_tokens: int = 300
) -> dict[str, Any]:
    url = "data:image/png;base64," + b64(image)
    content = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": url, "detail": detail}},
    ]
    return {
        "model": OPENAI_MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
    }


def anthropic_body(
    image: bytes, *, text: str = "Describe.", max_tokens: int = 300
) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/png", "data": b64(image)}
    content = [{"type": "image", "source": source}, {"type": "text", "text": text}]
    return {
        "model": ANTHROPIC_MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": content}],
    }


def gemini_body(image: bytes, *, text: str = "Describe.", snake: bool = False) -> dict[str, Any]:
    if snake:
        part = {"inline_data": {"mime_type": "image/png", "data": b64(image)}}
    else:
        part = {"inlineData": {"mimeType": "image/png", "data": b64(image)}}
    return {"contents": [{"role": "user", "parts": [{"text": text}, part]}]}


def instant(**fields: Any) -> ModelProfile:
    """INSTANT with `fields` changed, validated."""
    return ModelProfile.model_validate(INSTANT.model_dump() | fields)


@contextmanager
def served(
    profile: ModelProfile = INSTANT,
    clock: FakeClock | None = None,
    *,
    seed: int = 0,
    models: dict[str, ModelProfile] | None = None,
) -> Iterator[httpx.Client]:
    """A client of a simulator whose models answer by `models`, any other by `profile`."""
    config = SimulatorConfig(default=profile, seed=seed, models=models or {})
    with SimulatorServer(config, clock=clock or FakeClock()) as server:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            yield client


def openai_post(client: httpx.Client, body: object, key: str = "sk-test-one") -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def anthropic_post(
    client: httpx.Client, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post(
        "/v1/messages", json=body, headers=ANTHROPIC_HEADERS if headers is None else headers
    )


def gemini_post(client: httpx.Client, body: object, key: str = "AIza-test") -> httpx.Response:
    path = f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    return client.post(path, json=body, headers={"x-goog-api-key": key})


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned-looking three-part JWT; the simulator does not verify signatures."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    header = part(b'{"alg":"RS256","typ":"JWT"}')
    return f"{header}.{part(json.dumps(claims).encode())}.{part(b'signature')}"


def vertex_token(
    client: httpx.Client, email: str = "sim@sim-project.iam.gserviceaccount.com"
) -> str:
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": jwt({"iss": email, "scope": "https://www.googleapis.com/auth/cloud-platform"}),
    }
    response = client.post("/token", data=form)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token
