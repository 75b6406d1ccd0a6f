"""The official SDKs judge the simulator: each sends an image, reads a caption and its usage, then
hits the enforced limit (rpm=1) and raises its own rate-limit error with the retry delay.

Every SDK is used as its users use it, pointed at the simulator by its documented option
(`base_url`, google-genai's `http_options`), retries off so the 429 surfaces. Vertex AI runs
through google-genai with a generated service-account JSON whose `token_uri` is the
simulator's `/token`, so google-auth's real JWT-bearer refresh runs too.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterator
from typing import Any

import anthropic
import numpy as np
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from google.oauth2 import service_account
from PIL import Image

from labeller.simulator import ModelProfile, SimulatorConfig, SimulatorServer
from tests.support import FakeClock

#: Latency 0 and one request per key and model per minute: the second call is a 429.
LIMITED = ModelProfile(latency_ms=0.0, latency_jitter_ms=0.0, rpm=1)
PROMPT = "Describe the event activity in this frame."
SERVICE_ACCOUNT = "labeller-test@sim-project.iam.gserviceaccount.com"
RPC = "type.googleapis.com/google.rpc."


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(default=LIMITED), clock=FakeClock()) as server:
        yield server


@pytest.fixture(scope="module")
def frame_png() -> bytes:
    """A 64 x 48 black frame with a blue block in the upper left, as PNG bytes."""
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[4:12, 6:16] = (0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def listed(server: SimulatorServer, key: str, model: str) -> list[list[float]]:
    """The admitted requests /stats lists for a key and model."""
    with openai.DefaultHttpxClient() as http:
        stats = http.get(f"{server.url}/stats", params={"requests": "1"}).json()
    requests = stats["keys"][SimulatorServer.key_hash(key)][model]["requests"]
    assert isinstance(requests, list)
    return requests


def test_openai_sdk(simulator: SimulatorServer, frame_png: bytes) -> None:
    client = openai.OpenAI(api_key="sk-sdk-test", base_url=f"{simulator.url}/v1", max_retries=0)
    url = "data:image/png;base64," + base64.b64encode(frame_png).decode("ascii")
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": PROMPT},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        }
    ]

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    caption = completion.choices[0].message.content
    assert caption is not None and caption.startswith("Simulated caption:")
    assert "upper left" in caption
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == math.ceil(len(PROMPT) / 4) + 85
    [[_, prompt, output]] = listed(simulator, "sk-sdk-test", "gpt-4o-mini")
    assert (prompt, output) == (completion.usage.prompt_tokens, completion.usage.completion_tokens)

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "60"
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_anthropic_sdk(simulator: SimulatorServer, frame_png: bytes) -> None:
    client = anthropic.Anthropic(api_key="sk-ant-sdk-test", base_url=simulator.url, max_retries=0)
    data = base64.b64encode(frame_png).decode("ascii")
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": data},
                },
                {"type": "text", "text": PROMPT},
            ],
        }
    ]

    message = client.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=messages)

    [block] = message.content
    assert block.type == "text"
    assert block.text.startswith("Simulated caption:")
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == math.ceil(len(PROMPT) / 4) + 5  # 64 * 48 / 750 -> 5
    [[_, prompt, output]] = listed(simulator, "sk-ant-sdk-test", "claude-haiku-4-5")
    assert (prompt, output) == (message.usage.input_tokens, message.usage.output_tokens)

    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=messages)

    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "60"
    assert caught.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert caught.value.request_id == caught.value.response.headers["request-id"]


def _generate_twice(client: genai.Client, frame_png: bytes) -> tuple[Any, genai_errors.ClientError]:
    contents: Any = [genai_types.Part.from_bytes(data=frame_png, mime_type="image/png"), PROMPT]
    response = client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    return response, caught.value


def _no_retries(base_url: str, api_version: str) -> genai_types.HttpOptions:
    return genai_types.HttpOptions(
        base_url=base_url,
        api_version=api_version,
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )


def _check_gemini(server: SimulatorServer, owner: str, response: Any, error: Any) -> None:
    assert response.text.startswith("Simulated caption:")
    usage = response.usage_metadata
    assert usage.prompt_token_count == math.ceil(len(PROMPT) / 4) + 258
    [[_, prompt, output]] = listed(server, owner, "gemini-2.5-flash")
    assert (prompt, output) == (usage.prompt_token_count, usage.candidates_token_count)
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    delays = [
        d["retryDelay"]
        for d in error.details["error"]["details"]
        if d["@type"].endswith("RetryInfo")
    ]
    assert delays == ["60s"]


def test_google_genai_sdk_on_the_gemini_api(simulator: SimulatorServer, frame_png: bytes) -> None:
    client = genai.Client(
        api_key="AIza-sdk-test", http_options=_no_retries(simulator.url, "v1beta")
    )

    response, error = _generate_twice(client, frame_png)

    _check_gemini(simulator, "AIza-sdk-test", response, error)


def test_google_genai_sdk_on_vertex_ai(simulator: SimulatorServer, frame_png: bytes) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    info = {
        "type": "service_account",
        "project_id": "sim-project",
        "private_key_id": "sim-key-1",
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT,
        "client_id": "1",
        "token_uri": f"{simulator.url}/token",
    }
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        json.loads(json.dumps(info)), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    client = genai.Client(
        vertexai=True,
        project="sim-project",
        location="us-central1",
        credentials=credentials,
        http_options=_no_retries(simulator.url, "v1"),
    )

    response, error = _generate_twice(client, frame_png)

    _check_gemini(simulator, SERVICE_ACCOUNT, response, error)
    assert credentials.token is not None and credentials.token.startswith("sim-")
