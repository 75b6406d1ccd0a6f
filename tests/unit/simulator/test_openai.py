"""OpenAI Chat Completions over a real socket: shape, token math, auth, RPM and TPM windows."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

from labeller.simulator._openai import go_duration
from tests.support import FakeClock
from tests.unit.simulator.simulator_support import (
    INSTANT,
    OPENAI_MODEL,
    instant,
    openai_body,
    openai_post,
    png,
    served,
)

#: "Describe." is 3 prompt tokens, a low-detail image 85; max_tokens=4 caps the caption at 4.
SMALL_REQUEST_TOKENS = 3 + 85 + 4


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[httpx.Client]:
    with served(INSTANT, clock) as client:
        yield client


def small() -> dict[str, object]:
    return openai_body(png(8, 8), max_tokens=4)


def test_success_has_the_chat_completion_shape(client: httpx.Client, clock: FakeClock) -> None:
    response = openai_post(client, openai_body(png(64, 48, (0, 0, 10, 10)), text="x" * 10))

    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["created"] == int(clock.now)
    assert body["model"] == OPENAI_MODEL
    [choice] = body["choices"]
    assert (choice["index"], choice["finish_reason"], choice["logprobs"]) == (0, "stop", None)
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["refusal"] is None
    usage = body["usage"]
    assert usage["prompt_tokens"] == 3 + 85
    words = len(choice["message"]["content"].split())
    assert usage["completion_tokens"] == max(1, math.ceil(words * 4 / 3))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    headers = response.headers
    assert headers["x-request-id"]
    assert headers["openai-processing-ms"] == "0"
    assert headers["x-ratelimit-limit-requests"] == "1000000"
    assert headers["x-ratelimit-remaining-requests"] == "999999"
    assert headers["x-ratelimit-reset-requests"] == "1m0s"
    assert headers["x-ratelimit-limit-tokens"] == "1000000"
    assert headers["x-ratelimit-remaining-tokens"] == str(1_000_000 - usage["total_tokens"])
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
    response = openai_post(client, openai_body(png(width, height), text="abcd", detail=detail))

    assert response.json()["usage"]["prompt_tokens"] == 1 + tokens


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "k"}])
def test_missing_key_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post("/v1/chat/completions", json=openai_body(png(8, 8)), headers=headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", None),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}',
            "invalid_image_format",
        ),
        (None, "invalid_image_format"),
    ],
)
def test_bad_bodies_are_400(client: httpx.Client, body: bytes | None, code: str | None) -> None:
    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    if body is None:
        response = openai_post(client, openai_body(b"not a png"))
    else:
        response = client.post("/v1/chat/completions", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["code"] == code


def test_fourth_call_in_a_minute_is_429_until_the_window_slides(clock: FakeClock) -> None:
    with served(instant(rpm=3), clock) as client:
        for _ in range(3):
            assert openai_post(client, small()).status_code == 200
        clock.advance(12.5)

        refused = openai_post(client, small())

        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "48"
        assert refused.headers["retry-after-ms"] == "47500"
        assert refused.headers["x-ratelimit-limit-requests"] == "3"
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert refused.headers["x-ratelimit-reset-requests"] == "47.5s"
        error = refused.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "requests",
            "rate_limit_exceeded",
            None,
        )
        assert "on requests per min (RPM): Limit 3, Used 3, Requested 1." in error["message"]
        assert "Please try again in 47.5s." in error["message"]

        clock.advance(47.5)
        assert openai_post(client, small()).status_code == 200


def test_tpm_counts_prompt_and_completion_tokens(clock: FakeClock) -> None:
    with served(instant(tpm=200), clock) as client:
        first = openai_post(client, small())
        assert first.json()["usage"]["total_tokens"] == SMALL_REQUEST_TOKENS
        assert first.headers["x-ratelimit-limit-tokens"] == "200"
        assert first.headers["x-ratelimit-remaining-tokens"] == str(200 - 92)
        clock.advance(10)
        assert openai_post(client, small()).status_code == 200
        clock.advance(5)

        refused = openai_post(client, small())

        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "45"
        assert refused.headers["retry-after-ms"] == "45000"
        assert refused.headers["x-ratelimit-remaining-tokens"] == "16"
        assert refused.headers["x-ratelimit-reset-tokens"] == "55s"
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("tokens", "rate_limit_exceeded")
        assert "on tokens per min (TPM): Limit 200, Used 184, Requested 92." in error["message"]
        assert "Please try again in 45s." in error["message"]

        clock.advance(44.5)
        assert openai_post(client, small()).status_code == 429
        clock.advance(0.5)
        admitted = openai_post(client, small())
        assert admitted.status_code == 200
        assert admitted.headers["x-ratelimit-remaining-tokens"] == "16"
        assert admitted.headers["x-ratelimit-reset-tokens"] == "1m0s"


def test_request_larger_than_the_tpm_is_refused_as_too_large(clock: FakeClock) -> None:
    with served(instant(tpm=50), clock) as client:
        refused = openai_post(client, small())

        assert refused.status_code == 429
        assert refused.json()["error"]["message"].startswith(
            f"Request too large for {OPENAI_MODEL} in organization org-simulator on tokens per "
            "min (TPM): Limit 50, Requested 92."
        )


def test_keys_have_separate_windows(clock: FakeClock) -> None:
    with served(instant(rpm=3), clock) as client:
        for _ in range(3):
            assert openai_post(client, small(), key="sk-a").status_code == 200
        assert openai_post(client, small(), key="sk-a").status_code == 429

        assert openai_post(client, small(), key="sk-b").status_code == 200


def test_rejected_calls_do_not_fill_the_window(clock: FakeClock) -> None:
    with served(instant(rpm=3), clock) as client:
        for _ in range(3):
            openai_post(client, small())
        clock.advance(30)
        assert openai_post(client, small()).status_code == 429
        clock.advance(30)

        assert [openai_post(client, small()).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_captions_follow_the_image(client: httpx.Client) -> None:
    upper_left = openai_post(client, openai_body(png(90, 90, (0, 0, 20, 20))))
    lower_right = openai_post(client, openai_body(png(90, 90, (50, 60, 90, 90))))

    first = upper_left.json()["choices"][0]["message"]["content"]
    second = lower_right.json()["choices"][0]["message"]["content"]
    assert first.startswith("Simulated caption:")
    assert second.startswith("Simulated caption:")
    assert "upper left" in first
    assert "ON polarity" in first
    assert "lower right" in second


def test_max_tokens_cuts_the_caption(client: httpx.Client) -> None:
    choice = openai_post(client, small()).json()["choices"][0]

    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith("Simulated caption:")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.12, "120ms"),
        (1.5, "1.5s"),
        (45, "45s"),
        (360, "6m0s"),
        (3725.5, "1h2m5.5s"),
    ],
)
def test_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_profiles_are_per_model(clock: FakeClock) -> None:
    with served(INSTANT, clock, models={OPENAI_MODEL: instant(rpm=1)}) as client:
        assert openai_post(client, small()).status_code == 200
        assert openai_post(client, small()).status_code == 429

        assert openai_post(client, small() | {"model": "gpt-4o"}).status_code == 200
