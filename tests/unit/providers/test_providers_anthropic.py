"""AnthropicClient on the wire: request shape, parsing, RFC 3339 resets and the typed errors.

Bodies and headers copy recorded Messages API answers; resets are measured from a fixed clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from labeller.config import KeySettings, ProviderSettings
from labeller.errors import AuthError, BadRequest, Overloaded, RateLimited, Transient
from labeller.providers import (
    SIMULATED_KEY,
    AnthropicClient,
    CaptionRequest,
    RateLimitInfo,
    build_client,
)
from tests.unit.providers.providers_wire import (
    PNG,
    PROMPT,
    Handler,
    Recorder,
    call,
    failure,
    respond,
)

KEY_ENV = "LABELLER_TEST_ANTHROPIC_KEY"
KEY = "sk-ant-api03-" + "T3stK3yNeverPrinted0123456789abcdefABCDEF"  # split: no key-shaped literal
#: The fixed clock: 2025-01-08T19:53:24Z.
NOW = datetime(2025, 1, 8, 19, 53, 24, tzinfo=UTC).timestamp()


def message(
    text: Any = "A pedestrian crosses from left to right.", **changes: Any
) -> dict[str, Any]:
    """A Messages API answer as Anthropic sends it (claude-3-5-haiku)."""
    body: dict[str, Any] = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 1604,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 23,
        },
    }
    body.update(changes)
    return body


RATE_LIMIT_HEADERS = {
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": "2025-01-08T19:53:31Z",
    "anthropic-ratelimit-input-tokens-limit": "400000",
    "anthropic-ratelimit-input-tokens-remaining": "398000",
    "anthropic-ratelimit-input-tokens-reset": "2025-01-08T19:53:31Z",
    "anthropic-ratelimit-output-tokens-limit": "80000",
    "anthropic-ratelimit-output-tokens-remaining": "79000",
    "anthropic-ratelimit-output-tokens-reset": "2025-01-08T19:53:25.500Z",
    "anthropic-ratelimit-tokens-limit": "480000",
    "anthropic-ratelimit-tokens-remaining": "477000",
    "anthropic-ratelimit-tokens-reset": "2025-01-08T19:53:30Z",
}
OTHER_HEADERS = {"request-id": "req_018EeWyXxfu5pfWkrYcMdjWG", "via": "1.1 google"}


def error_body(type_: str, message_: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message_}}


@pytest.fixture
def opened() -> Iterator[list[httpx.Client]]:
    clients: list[httpx.Client] = []
    yield clients
    for http in clients:
        http.close()


def make(
    opened: list[httpx.Client], handler: Handler, **changes: Any
) -> tuple[AnthropicClient, Recorder]:
    recorder = Recorder(handler)
    http = httpx.Client(
        base_url="https://api.anthropic.com/", transport=httpx.MockTransport(recorder)
    )
    opened.append(http)
    fields: dict[str, Any] = {
        "provider": "claude",
        "model": "claude-3-5-haiku-latest",
        "api_key": SecretStr(KEY),
        "key_alias": KEY_ENV,
        "anthropic_version": "2023-06-01",
        "max_tokens": 64,
        "clock": lambda: NOW,
    }
    fields.update(changes)
    return AnthropicClient(http, **fields), recorder


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=message(), headers={**RATE_LIMIT_HEADERS, **OTHER_HEADERS})


# --- the request -------------------------------------------------------------------------------


def test_request_goes_to_v1_messages_with_key_version_and_image_then_text(
    opened: list[httpx.Client],
) -> None:
    client, recorder = make(opened, ok)

    call(client)

    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    body = json.loads(request.content)
    assert body["model"] == "claude-3-5-haiku-latest"
    assert body["max_tokens"] == 64
    (turn,) = body["messages"]
    assert turn["role"] == "user"
    image, text = turn["content"]
    assert image["type"] == "image"
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"], validate=True) == PNG
    assert text == {"type": "text", "text": PROMPT}


def test_jpeg_media_type_is_sent(opened: list[httpx.Client]) -> None:
    client, recorder = make(opened, ok)

    client.caption(CaptionRequest(PROMPT, b"\xff\xd8\xff\xe0", "image/jpeg"))

    source = json.loads(recorder.requests[0].content)["messages"][0]["content"][0]["source"]
    assert source["media_type"] == "image/jpeg"


def test_build_client_wires_settings_into_the_request() -> None:
    settings = ProviderSettings(
        name="claude",
        kind="anthropic",
        model="claude-3-5-haiku-latest",
        api_key_env=KEY_ENV,
        anthropic_version="2024-10-22",
        max_tokens=33,
    )
    recorder = Recorder(ok)
    client, http = build_client(
        settings,
        settings.key_list[0],
        env={KEY_ENV: KEY},
        transport=httpx.MockTransport(recorder),
    )
    with http:
        call(client)

    (request,) = recorder.requests
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["anthropic-version"] == "2024-10-22"
    assert request.headers["x-api-key"] == KEY
    assert json.loads(request.content)["max_tokens"] == 33
    assert client.key_alias == KEY_ENV
    assert KEY not in repr(client)


def test_no_key_sends_no_x_api_key(opened: list[httpx.Client]) -> None:
    client, recorder = make(opened, ok, api_key=None, key_alias=None)

    call(client)

    assert "x-api-key" not in recorder.requests[0].headers


def test_key_never_in_repr(opened: list[httpx.Client]) -> None:
    client, _ = make(opened, ok)

    assert KEY not in repr(client)
    assert KEY not in str(client)


# --- a 200 -------------------------------------------------------------------------------------


def test_200_parses_caption_usage_and_rate_limits_against_the_clock(
    opened: list[httpx.Client],
) -> None:
    client, _ = make(opened, ok)

    response = call(client)

    assert response.caption == "A pedestrian crosses from left to right."
    assert response.model == "claude-3-5-haiku-20241022"
    assert (response.prompt_tokens, response.completion_tokens) == (1604, 23)
    assert response.rate_limit_headers == RATE_LIMIT_HEADERS
    # Output tokens have the fewest left, so their window is the one reported.
    assert response.rate_limit == RateLimitInfo(
        limit_requests=4000,
        remaining_requests=3999,
        reset_requests_s=7.0,
        limit_tokens=80000,
        remaining_tokens=79000,
        reset_tokens_s=1.5,
    )


def test_only_the_combined_token_window_is_used_when_alone(opened: list[httpx.Client]) -> None:
    headers = {
        "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "39000",
        "anthropic-ratelimit-tokens-reset": "2025-01-08T19:54:24+00:00",
    }
    client, _ = make(opened, lambda r: httpx.Response(200, json=message(), headers=headers))

    assert call(client).rate_limit == RateLimitInfo(
        limit_tokens=40000, remaining_tokens=39000, reset_tokens_s=60.0
    )


@pytest.mark.parametrize(
    ("reset", "expected_s"),
    [
        ("2025-01-08T19:53:24Z", 0.0),
        ("2025-01-08T19:53:20Z", 0.0),  # already past: never negative
        ("2025-01-08T20:53:24+01:00", 0.0),
        ("2025-01-08T19:55:24.25Z", 120.25),
        ("2025-01-08T19:53:34", 10.0),  # no offset: read as UTC
        ("in a minute", None),
    ],
)
def test_rfc3339_resets_become_seconds_from_the_clock(
    opened: list[httpx.Client], reset: str, expected_s: float | None
) -> None:
    headers = {**RATE_LIMIT_HEADERS, "anthropic-ratelimit-requests-reset": reset}
    client, _ = make(opened, lambda r: httpx.Response(200, json=message(), headers=headers))

    info = call(client).rate_limit

    assert info is not None
    assert info.reset_requests_s == pytest.approx(expected_s)


def test_200_without_limit_headers_has_no_rate_limit(opened: list[httpx.Client]) -> None:
    client, _ = make(opened, lambda r: httpx.Response(200, json=message()))

    response = call(client)

    assert response.rate_limit is None
    assert response.rate_limit_headers == {}


def test_text_blocks_are_joined_and_others_skipped(opened: list[httpx.Client]) -> None:
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "abc"},
        {"type": "text", "text": "A cyclist "},
        {"type": "text", "text": "turns right.\n"},
    ]
    client, _ = make(opened, lambda r: httpx.Response(200, json=message(content=content)))

    assert call(client).caption == "A cyclist turns right."


def test_refusal_without_text_is_a_bad_request(opened: list[httpx.Client]) -> None:
    body = message(content=[], stop_reason="refusal")
    client, _ = make(opened, lambda r: httpx.Response(200, json=body))

    error = failure(client, KEY)

    assert type(error) is BadRequest
    assert "refusal" in str(error)


# --- errors ------------------------------------------------------------------------------------

RATE_LIMIT_MESSAGE = (
    "This request would exceed the rate limit for your organization "
    "(4f6f1a0e-8b8f-4a6c-9d0b-2b1f0a9c8e7d) of 50,000 input tokens per minute. For details, "
    "refer to: https://docs.anthropic.com/en/api/rate-limits."
)


@pytest.mark.parametrize(
    ("headers", "expected_s"),
    [
        ({"retry-after": "14"}, 14.0),
        ({"retry-after": "14", "retry-after-ms": "13500"}, 13.5),
        ({}, None),
    ],
)
def test_429_rate_limit_error_is_rate_limited(
    opened: list[httpx.Client], headers: dict[str, str], expected_s: float | None
) -> None:
    body = error_body("rate_limit_error", RATE_LIMIT_MESSAGE)
    client, _ = make(opened, respond(429, body, {**RATE_LIMIT_HEADERS, **headers}))

    error = failure(client, KEY)

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == expected_s
    assert error.status == 429
    assert "rate_limit_error" in str(error)
    assert "50,000 input tokens per minute" in str(error)


def test_429_without_retry_after_waits_for_the_exhausted_window(
    opened: list[httpx.Client],
) -> None:
    headers = {
        **RATE_LIMIT_HEADERS,
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "2025-01-08T19:53:46Z",
    }
    body = error_body("rate_limit_error", RATE_LIMIT_MESSAGE)
    client, _ = make(opened, respond(429, body, headers))

    error = failure(client, KEY)

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 22.0


def test_529_overloaded_error_is_overloaded(opened: list[httpx.Client]) -> None:
    client, _ = make(opened, respond(529, error_body("overloaded_error", "Overloaded")))

    error = failure(client, KEY)

    assert type(error) is Overloaded
    assert error.status == 529
    assert error.retryable


@pytest.mark.parametrize(
    ("status", "type_", "text"),
    [
        (
            400,
            "invalid_request_error",
            "messages.0.content.0.image.source.base64.data: The image was specified using the "
            "image/png media type, but does not appear to be a valid png image",
        ),
        (404, "not_found_error", "model: claude-9-nonexistent"),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
    ],
)
def test_request_faults_are_bad_requests(
    opened: list[httpx.Client], status: int, type_: str, text: str
) -> None:
    client, _ = make(opened, respond(status, error_body(type_, text)))

    error = failure(client, KEY)

    assert type(error) is BadRequest
    assert error.status == status
    assert not error.retryable
    assert text in str(error)


@pytest.mark.parametrize(
    ("status", "type_", "text"),
    [
        (401, "authentication_error", "invalid x-api-key"),
        (403, "permission_error", "Your API key does not have permission to use this resource."),
    ],
)
def test_401_and_403_are_auth_errors(
    opened: list[httpx.Client], status: int, type_: str, text: str
) -> None:
    client, _ = make(opened, respond(status, error_body(type_, text)))

    error = failure(client, KEY)

    assert type(error) is AuthError
    assert error.status == status
    assert type_ in str(error)


def test_a_server_echoing_the_key_does_not_leak_it(opened: list[httpx.Client]) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        sent = request.headers["x-api-key"]
        return httpx.Response(401, json=error_body("authentication_error", f"bad key {sent}"))

    client, _ = make(opened, echo, api_key=SecretStr("not-key-shaped-but-secret-42"))

    error = failure(client, "not-key-shaped-but-secret-42")

    assert type(error) is AuthError


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, error_body("api_error", "Internal server error")),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (504, b""),
    ],
)
def test_other_5xx_are_transient(opened: list[httpx.Client], status: int, body: Any) -> None:
    client, _ = make(opened, respond(status, body))

    error = failure(client, KEY)

    assert type(error) is Transient
    assert error.status == status


def test_unusual_status_with_overloaded_type_is_overloaded(opened: list[httpx.Client]) -> None:
    client, _ = make(opened, respond(409, error_body("overloaded_error", "Overloaded")))

    assert type(failure(client, KEY)) is Overloaded


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("timed out"), httpx.ConnectError("[Errno 111] refused")]
)
def test_transport_failures_are_transient(opened: list[httpx.Client], exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make(opened, handler)

    error = failure(client, KEY)

    assert type(error) is Transient
    assert error.__cause__ is exc


@pytest.mark.parametrize(
    "content",
    [
        b'{"id": "msg_1", "content": [',
        b"<html>upstream returned garbage</html>",
        json.dumps({"id": "msg_1", "type": "message"}).encode(),
        json.dumps(message(content="just a string")).encode(),
        json.dumps(message(content=[])).encode(),
        json.dumps(message(text="   ")).encode(),
        json.dumps(message(text=None)).encode(),
        json.dumps(message(usage={"input_tokens": "many"})).encode(),
        json.dumps([1, 2]).encode(),
    ],
    ids=[
        "truncated",
        "html",
        "no-content",
        "content-string",
        "content-empty",
        "blank-text",
        "null-text",
        "bad-usage",
        "list-body",
    ],
)
def test_malformed_200_bodies_are_transient(opened: list[httpx.Client], content: bytes) -> None:
    client, _ = make(opened, lambda r: httpx.Response(200, content=content))

    error = failure(client, KEY)

    assert type(error) is Transient
    assert error.__cause__ is not None


def test_simulated_build_sends_the_simulated_key_when_unset() -> None:
    settings = ProviderSettings(name="claude", kind="anthropic", model="claude-3-5-haiku-latest")
    recorder = Recorder(ok)
    client, http = build_client(
        settings,
        KeySettings(env="ANTHROPIC_API_KEY"),
        base_url="http://127.0.0.1:9",
        simulated=True,
        env={},
        transport=httpx.MockTransport(recorder),
    )
    with http:
        call(client)

    assert str(recorder.requests[0].url) == "http://127.0.0.1:9/v1/messages"
    assert recorder.requests[0].headers["x-api-key"] == SIMULATED_KEY
    assert client.key_alias == "ANTHROPIC_API_KEY"
