"""SimulatorServer over a real socket: wire shape, token math, auth, limits, faults, captions."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from labeller.simulator import ModelProfile, SimulatorConfig, SimulatorServer
from tests.support import FakeClock

MODEL = "gpt-4o-mini"
INSTANT = ModelProfile(latency_ms=0.0, latency_jitter_ms=0.0)


def png(width: int, height: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    """A white frame with a blue (ON) block at box = (x0, y0, x1, y1)."""
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        pixels[y0:y1, x0:x1] = (0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def chat(image: bytes, *, text: str = "Describe.", detail: str = "low") -> dict[str, object]:
    url = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    content = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": url, "detail": detail}},
    ]
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 300}


def auth(key: str = "sk-test-one") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def serve(config: SimulatorConfig, clock: FakeClock) -> Iterator[httpx.Client]:
    with SimulatorServer(config, clock=clock) as server:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            yield client


@pytest.fixture
def client(clock: FakeClock) -> Iterator[httpx.Client]:
    yield from serve(SimulatorConfig(default=INSTANT), clock)


@pytest.fixture
def limited(clock: FakeClock) -> Iterator[httpx.Client]:
    profile = ModelProfile(latency_ms=0.0, latency_jitter_ms=0.0, rpm=3)
    yield from serve(SimulatorConfig(models={MODEL: profile}, default=INSTANT), clock)


def post(client: httpx.Client, body: object, key: str = "sk-test-one") -> httpx.Response:
    return client.post("/v1/chat/completions", json=body, headers=auth(key))


def test_success_has_the_chat_completion_shape(client: httpx.Client, clock: FakeClock) -> None:
    response = post(client, chat(png(64, 48, (0, 0, 10, 10)), text="x" * 10))

    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["created"] == int(clock.now)
    assert body["model"] == MODEL
    assert body["system_fingerprint"] == "fp_sim"
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["refusal"] is None
    content = choice["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == 3 + 85
    assert usage["completion_tokens"] == max(1, math.ceil(len(content.split()) * 4 / 3))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 20 <= usage["completion_tokens"] <= 80
    headers = response.headers
    assert headers["x-request-id"]
    assert headers["openai-processing-ms"] == "0"
    assert headers["x-ratelimit-remaining-requests"] == str(
        int(headers["x-ratelimit-limit-requests"]) - 1
    )
    assert headers["x-ratelimit-reset-requests"] == "1m0s"
    assert headers["x-ratelimit-limit-tokens"] == "1000000"
    assert int(headers["x-ratelimit-remaining-tokens"]) < 1_000_000
    assert headers["x-ratelimit-reset-tokens"] == "1m0s"


@pytest.mark.parametrize(
    ("width", "height", "detail", "tokens"),
    [
        (4096, 4096, "low", 85),
        (1024, 1024, "high", 85 + 170 * 4),
        (2048, 4096, "high", 85 + 170 * 6),
        (300, 200, "auto", 85 + 170 * 1),
        (800, 600, "high", 85 + 170 * 4),
    ],
)
def test_image_tokens_follow_the_tiling_rule(
    client: httpx.Client, width: int, height: int, detail: str, tokens: int
) -> None:
    response = post(client, chat(png(width, height), text="abcd", detail=detail))

    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == 1 + tokens


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "k"}])
def test_missing_key_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post("/v1/chat/completions", json=chat(png(8, 8)), headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "message": response.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", content=b"{not json", headers=auth())

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_request_without_image_is_400(client: httpx.Client) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}

    response = post(client, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_image_format"


def test_undecodable_image_is_400(client: httpx.Client) -> None:
    response = post(client, chat(b"not a png"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_image_format"


def test_fourth_call_in_a_minute_is_429_until_the_window_slides(
    limited: httpx.Client, clock: FakeClock
) -> None:
    body = chat(png(8, 8))
    for _ in range(3):
        assert post(limited, body).status_code == 200
    clock.advance(12.5)

    refused = post(limited, body)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "48"
    assert refused.headers["retry-after-ms"] == "47500"
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "requests"
    assert error["param"] is None
    assert "Limit 3, Used 3, Requested 1" in error["message"]
    assert "Please try again in 47.5s" in error["message"]

    clock.advance(47.5)
    assert post(limited, body).status_code == 200


def test_keys_have_separate_windows(limited: httpx.Client) -> None:
    body = chat(png(8, 8))
    for _ in range(3):
        assert post(limited, body, key="sk-a").status_code == 200
    assert post(limited, body, key="sk-a").status_code == 429

    assert post(limited, body, key="sk-b").status_code == 200


def test_stats_count_accepted_and_rate_limited(limited: httpx.Client, clock: FakeClock) -> None:
    body = chat(png(8, 8))
    responses = [post(limited, body, key="sk-secret-value") for _ in range(5)]
    usage = [r.json()["usage"] for r in responses if r.status_code == 200]

    stats = limited.get("/stats").json()

    assert stats["totals"]["accepted"] == 3
    assert stats["totals"]["rate_limited"] == 2
    assert stats["totals"]["faults"] == 0
    assert stats["totals"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in usage)
    assert stats["totals"]["completion_tokens"] == sum(u["completion_tokens"] for u in usage)
    [key_hash] = stats["requests"]
    assert "sk-secret-value" not in limited.get("/stats").text
    minute = str(int(clock.now // 60) * 60)
    assert stats["requests"][key_hash][MODEL][minute]["rate_limited"] == 2

    assert limited.post("/stats/reset").status_code == 200
    assert limited.get("/stats").json()["totals"]["accepted"] == 0


def test_rejected_calls_do_not_fill_the_window(limited: httpx.Client, clock: FakeClock) -> None:
    body = chat(png(8, 8))
    for _ in range(3):
        post(limited, body)
    clock.advance(30)
    assert post(limited, body).status_code == 429
    clock.advance(30)

    assert [post(limited, body).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_fault_rate_one_gives_server_errors(clock: FakeClock) -> None:
    profile = ModelProfile(latency_ms=0.0, latency_jitter_ms=0.0, fault_rate=1.0)
    for client in serve(SimulatorConfig(default=profile), clock):
        responses = [post(client, chat(png(8, 8))) for _ in range(5)]
        assert {r.status_code for r in responses} <= {500, 502, 503}
        assert all(r.json()["error"]["type"] == "server_error" for r in responses)
        assert client.get("/stats").json()["totals"]["faults"] == 5


def test_captions_follow_the_image(client: httpx.Client) -> None:
    upper_left = post(client, chat(png(90, 90, (0, 0, 20, 20))))
    lower_right = post(client, chat(png(90, 90, (50, 60, 90, 90))))

    first = upper_left.json()["choices"][0]["message"]["content"]
    second = lower_right.json()["choices"][0]["message"]["content"]
    assert first != second
    assert first.startswith("Simulated caption:")
    assert second.startswith("Simulated caption:")
    assert "upper left" in first
    assert "ON polarity" in first
    assert "lower right" in second


def test_max_tokens_cuts_the_caption(client: httpx.Client) -> None:
    body = chat(png(8, 8, (0, 0, 2, 2))) | {"max_tokens": 4}

    choice = post(client, body).json()["choices"][0]

    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith("Simulated caption:")


def test_health_and_unknown_path(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}

    missing = client.get("/v1/nothing")

    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"


def test_stop_closes_the_socket() -> None:
    server = SimulatorServer(SimulatorConfig(default=INSTANT))
    server.start()
    url = server.url
    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2.0)
