"""Anthropic Messages over a real socket: shape, headers, token math, auth and every error body."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import FakeClock
from tests.unit.simulator.simulator_support import (
    ANTHROPIC_HEADERS,
    ANTHROPIC_MODEL,
    INSTANT,
    anthropic_body,
    anthropic_post,
    instant,
    png,
    served,
)

#: T0 + 60 s, when a window holding only requests made at T0 is empty again.
RESET_AT_T0 = "2023-11-14T22:14:20Z"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[httpx.Client]:
    with served(INSTANT, clock) as client:
        yield client


def assert_error(response: httpx.Response, status: int, type_: str) -> str:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert body["error"]["type"] == type_
    assert body["request_id"] == response.headers["request-id"]
    message = body["error"]["message"]
    assert isinstance(message, str)
    return message


def test_success_has_the_message_shape_and_headers(client: httpx.Client) -> None:
    response = anthropic_post(client, anthropic_body(png(8, 8, (0, 0, 2, 2))))

    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("msg_")
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", ANTHROPIC_MODEL)
    [block] = body["content"]
    assert block["type"] == "text"
    assert block["text"].startswith("Simulated caption:")
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    usage = body["usage"]
    assert usage["input_tokens"] == 3 + 1
    assert usage["output_tokens"] >= 20
    headers = response.headers
    assert headers["request-id"].startswith("req_")
    assert headers["anthropic-ratelimit-requests-limit"] == "1000000"
    assert headers["anthropic-ratelimit-requests-remaining"] == "999999"
    assert headers["anthropic-ratelimit-requests-reset"] == RESET_AT_T0
    used = usage["input_tokens"] + usage["output_tokens"]
    for family in ("tokens", "input-tokens", "output-tokens"):
        assert headers[f"anthropic-ratelimit-{family}-limit"] == "1000000"
        assert headers[f"anthropic-ratelimit-{family}-remaining"] == str(1_000_000 - used)
        assert headers[f"anthropic-ratelimit-{family}-reset"] == RESET_AT_T0


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(8, 8, 1), (1000, 1000, 1334), (3000, 1500, 1599), (2000, 400, 655)],
)
def test_image_tokens_follow_the_resize_rule(
    client: httpx.Client, width: int, height: int, tokens: int
) -> None:
    response = anthropic_post(client, anthropic_body(png(width, height), text="abcd"))

    assert response.json()["usage"]["input_tokens"] == 1 + tokens


def test_max_tokens_stops_the_caption(client: httpx.Client) -> None:
    body = anthropic_post(client, anthropic_body(png(8, 8), max_tokens=4)).json()

    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["output_tokens"] == 4


def test_missing_key_is_401_authentication_error(client: httpx.Client) -> None:
    headers = {"anthropic-version": "2023-06-01"}

    response = anthropic_post(client, anthropic_body(png(8, 8)), headers=headers)

    assert assert_error(response, 401, "authentication_error") == "x-api-key header is required"


def test_missing_version_is_400(client: httpx.Client) -> None:
    response = anthropic_post(client, anthropic_body(png(8, 8)), headers={"x-api-key": "k"})

    message = assert_error(response, 400, "invalid_request_error")
    assert message == "anthropic-version: header is required"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
    ],
)
def test_invalid_bodies_are_400(
    client: httpx.Client, change: dict[str, object], needle: str
) -> None:
    body = {k: v for k, v in (anthropic_body(png(8, 8)) | change).items() if v is not None}

    assert needle in assert_error(anthropic_post(client, body), 400, "invalid_request_error")


def test_bad_images_are_400(client: httpx.Client) -> None:
    body = anthropic_body(b"not a png")
    wrong_type = anthropic_body(png(8, 8))
    wrong_type["messages"][0]["content"][0]["source"]["media_type"] = "image/tiff"

    unreadable = assert_error(anthropic_post(client, body), 400, "invalid_request_error")
    unsupported = assert_error(anthropic_post(client, wrong_type), 400, "invalid_request_error")

    assert unreadable == "messages.0.content.0.image.source.base64.data: Could not process image"
    assert unsupported.startswith("messages.0.content.0.image.source.base64.media_type:")


def test_second_request_over_rpm_is_429_with_retry_after(clock: FakeClock) -> None:
    with served(instant(rpm=1), clock) as client:
        assert anthropic_post(client, anthropic_body(png(8, 8))).status_code == 200
        clock.advance(12.5)

        refused = anthropic_post(client, anthropic_body(png(8, 8)))

        message = assert_error(refused, 429, "rate_limit_error")
        assert "1 requests per minute" in message
        assert refused.headers["retry-after"] == "48"
        assert refused.headers["anthropic-ratelimit-requests-limit"] == "1"
        assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert refused.headers["anthropic-ratelimit-requests-reset"] == RESET_AT_T0


def test_tpm_refusal_names_tokens(clock: FakeClock) -> None:
    with served(instant(tpm=10), clock) as client:
        assert anthropic_post(client, anthropic_body(png(8, 8), max_tokens=4)).status_code == 200

        refused = anthropic_post(client, anthropic_body(png(8, 8), max_tokens=4))

        assert "10 tokens per minute" in assert_error(refused, 429, "rate_limit_error")
        assert refused.headers["anthropic-ratelimit-tokens-remaining"] == "2"
        assert refused.headers["retry-after"] == "60"


@pytest.mark.parametrize(
    ("field", "status", "type_", "message"),
    [
        ("overload_rate", 529, "overloaded_error", "Overloaded"),
        ("fault_rate", 500, "api_error", "Internal server error"),
        ("rate_limit_rate", 429, "rate_limit_error", None),
    ],
)
def test_injected_errors_have_anthropic_bodies(
    field: str, status: int, type_: str, message: str | None
) -> None:
    with served(instant(**{field: 1.0})) as client:
        response = anthropic_post(client, anthropic_body(png(8, 8)))

        text = assert_error(response, status, type_)
        assert message is None or text == message
        assert "anthropic-ratelimit-requests-remaining" in response.headers


def test_headers_are_case_insensitive(client: httpx.Client) -> None:
    headers = {name.upper(): value for name, value in ANTHROPIC_HEADERS.items()}

    assert anthropic_post(client, anthropic_body(png(8, 8)), headers=headers).status_code == 200
