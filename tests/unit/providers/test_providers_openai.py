"""OpenAIClient on the wire: request shape, auth, parsing and the typed error for each failure.

Responses copy the shape of recorded OpenAI Chat Completions answers (bodies and headers);
`httpx.MockTransport` stands in for the network, nothing else is faked.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from labeller.config import KeySettings, ProviderSettings
from labeller.errors import (
    AuthError,
    BadRequest,
    ConfigError,
    Overloaded,
    ProviderError,
    RateLimited,
    Transient,
)
from labeller.providers import (
    SIMULATED_KEY,
    CaptionClient,
    CaptionRequest,
    CaptionResponse,
    RateLimitInfo,
    build_client,
    missing_keys,
)

KEY_ENV = "LABELLER_TEST_OPENAI_KEY"
KEY = "sk-proj-" + "T3stK3yNeverPrinted0123456789abcdef"  # split: no key-shaped literal
PROMPT = "Describe the motion in this event frame."

Handler = Callable[[httpx.Request], httpx.Response]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (255, 128, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def provider(**changes: Any) -> ProviderSettings:
    fields: dict[str, Any] = {
        "name": "openai",
        "model": "gpt-4o-mini",
        "api_key_env": KEY_ENV,
        "detail": "high",
        "max_tokens": 77,
        "timeout_s": 12.5,
    }
    fields.update(changes)
    return ProviderSettings(**fields)


def completion(content: Any = "  A car drives left to right.\n", **changes: Any) -> dict[str, Any]:
    """A Chat Completions body as OpenAI sends it (gpt-4o-mini, 2024-07-18 snapshot)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-AkJ3X0j7q9ZlM2yQbYtH6cVn1s8rE",
        "object": "chat.completion",
        "created": 1735000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 112,
            "completion_tokens": 9,
            "total_tokens": 121,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "system_fingerprint": "fp_0ba0d124f1",
    }
    body.update(changes)
    return body


RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "10000000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "9999832",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "1ms",
}
OTHER_HEADERS = {
    "x-request-id": "req_8d1c3b5e0f2a4c6e9b7d1f3a5c7e9b1d",
    "openai-processing-ms": "612",
    "openai-organization": "user-abc123",
}


def error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class Recorder:
    """Answers every request with `handler` and keeps the requests it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


MakeClient = Callable[..., tuple[CaptionClient, Recorder]]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    opened: list[httpx.Client] = []

    def make(
        handler: Handler,
        settings: ProviderSettings | None = None,
        *,
        env: dict[str, str] | None = None,
        simulated: bool = False,
        base_url: str | None = None,
    ) -> tuple[CaptionClient, Recorder]:
        recorder = Recorder(handler)
        settings = settings or provider()
        client, http = build_client(
            settings,
            next(iter(settings.key_list), None),
            base_url=base_url,
            simulated=simulated,
            env={KEY_ENV: KEY} if env is None else env,
            transport=httpx.MockTransport(recorder),
        )
        opened.append(http)
        return client, recorder

    yield make
    for http in opened:
        http.close()


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=completion(), headers={**RATE_LIMIT_HEADERS, **OTHER_HEADERS})


def call(client: CaptionClient) -> CaptionResponse:
    return client.caption(CaptionRequest(PROMPT, PNG, "image/png"))


def failure(client: CaptionClient) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call(client)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    return caught.value


# --- the request -------------------------------------------------------------------------------


def test_request_body_has_model_limits_prompt_and_image(make_client: MakeClient) -> None:
    client, recorder = make_client(ok)

    call(client)

    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body["model"] == "gpt-4o-mini"
    assert body["max_tokens"] == 77
    (message,) = body["messages"]
    assert message["role"] == "user"
    text, image = message["content"]
    assert text == {"type": "text", "text": PROMPT}
    assert image["type"] == "image_url"
    assert image["image_url"]["detail"] == "high"
    url = image["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix) :], validate=True) == PNG


def test_jpeg_media_type_goes_into_the_data_uri(make_client: MakeClient) -> None:
    client, recorder = make_client(ok)

    client.caption(CaptionRequest(PROMPT, b"\xff\xd8\xff\xe0jpeg", "image/jpeg"))

    body = json.loads(recorder.requests[0].content)
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff\xe0jpeg").decode()


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/"])
def test_base_url_override_is_joined_with_one_slash(make_client: MakeClient, base_url: str) -> None:
    client, recorder = make_client(ok, base_url=base_url)

    call(client)

    assert str(recorder.requests[0].url) == "http://127.0.0.1:9/v1/chat/completions"


def test_timeouts_come_from_settings(make_client: MakeClient) -> None:
    client, recorder = make_client(ok)

    call(client)

    timeout = recorder.requests[0].extensions["timeout"]
    assert timeout["read"] == 12.5
    assert timeout["connect"] == 10.0


def test_bearer_key_is_read_from_the_env_mapping(make_client: MakeClient) -> None:
    client, recorder = make_client(ok)

    call(client)

    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert client.key_alias == KEY_ENV


def test_key_never_in_repr(make_client: MakeClient) -> None:
    client, _ = make_client(ok)

    assert KEY not in repr(client)
    assert KEY not in str(client)


def test_provider_echoing_the_key_does_not_leak_it_into_the_error(make_client: MakeClient) -> None:
    """Some OpenAI-compatible proxies echo the rejected key; it must not reach Attempt.error."""

    def echo(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(
            401,
            json=error_body(f"Incorrect API key provided: {sent}.", "invalid_request_error", None),
        )

    client, _ = make_client(echo)

    error = failure(client)

    assert isinstance(error, AuthError)


# --- a 200 -------------------------------------------------------------------------------------


def test_200_parses_caption_model_usage_and_rate_limit_headers(make_client: MakeClient) -> None:
    client, _ = make_client(ok)

    response = call(client)

    assert response.caption == "A car drives left to right."
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert response.prompt_tokens == 112
    assert response.completion_tokens == 9
    assert response.rate_limit_headers == RATE_LIMIT_HEADERS
    assert response.rate_limit == RateLimitInfo(
        limit_requests=10000,
        remaining_requests=9999,
        reset_requests_s=0.006,
        limit_tokens=10000000,
        remaining_tokens=9999832,
        reset_tokens_s=0.001,
    )


@pytest.mark.parametrize(
    ("value", "expected_s"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("120ms", 0.12),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("17.28s", 17.28),
        ("0s", 0.0),
        ("250us", 0.00025),
        ("20", 20.0),
        ("soon", None),
        ("6x", None),
        ("-1s", None),
        ("", None),
    ],
)
def test_reset_durations_are_parsed_into_seconds(
    make_client: MakeClient, value: str, expected_s: float | None
) -> None:
    headers = {**RATE_LIMIT_HEADERS, "x-ratelimit-reset-requests": value}
    client, _ = make_client(lambda request: httpx.Response(200, json=completion(), headers=headers))

    info = call(client).rate_limit

    assert info is not None
    assert info.reset_requests_s == pytest.approx(expected_s)
    assert info.reset_tokens_s == pytest.approx(0.001)


def test_garbled_limit_headers_are_none_not_errors(make_client: MakeClient) -> None:
    headers = {
        "x-ratelimit-limit-requests": "lots",
        "x-ratelimit-remaining-requests": "-3",
        "x-ratelimit-remaining-tokens": "12.5",
        "x-ratelimit-limit-tokens": "40000",
    }
    client, _ = make_client(lambda request: httpx.Response(200, json=completion(), headers=headers))

    assert call(client).rate_limit == RateLimitInfo(limit_tokens=40000)


def test_200_without_usage_counts_zero_tokens(make_client: MakeClient) -> None:
    body = completion()
    del body["usage"]
    client, _ = make_client(lambda request: httpx.Response(200, json=body))

    response = call(client)

    assert (response.prompt_tokens, response.completion_tokens) == (0, 0)
    assert response.rate_limit_headers == {}
    assert response.rate_limit is None


# --- errors ------------------------------------------------------------------------------------


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=body or b"", headers=headers)

    return handler


RATE_LIMIT_MESSAGE = (
    "Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): "
    "Limit 3, Used 3, Requested 1. Please try again in 20s."
)


@pytest.mark.parametrize(
    ("headers", "expected_s"),
    [
        ({"retry-after": "20", "retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_429_is_rate_limited_with_retry_after(
    make_client: MakeClient, headers: dict[str, str], expected_s: float | None
) -> None:
    body = error_body(RATE_LIMIT_MESSAGE, "requests", "rate_limit_exceeded")
    client, _ = make_client(respond(429, body, {**RATE_LIMIT_HEADERS, **headers}))

    error = failure(client)

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == expected_s
    assert error.status == 429
    assert error.provider == "openai"
    assert error.retryable
    assert "Rate limit reached for gpt-4o-mini" in str(error)


def test_429_without_retry_after_waits_for_the_exhausted_window(make_client: MakeClient) -> None:
    headers = {
        **RATE_LIMIT_HEADERS,
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m30.5s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6s",
    }
    body = error_body(RATE_LIMIT_MESSAGE, "requests", "rate_limit_exceeded")
    client, _ = make_client(respond(429, body, headers))

    error = failure(client)

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == pytest.approx(90.5)


@pytest.mark.parametrize("status", [503, 529])
def test_overload_statuses_are_overloaded(make_client: MakeClient, status: int) -> None:
    body = error_body(
        "The engine is currently overloaded, please try again later", "server_error", None
    )
    client, _ = make_client(respond(status, body))

    error = failure(client)

    assert type(error) is Overloaded
    assert error.status == status
    assert error.retryable


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            500,
            error_body(
                "The server had an error while processing your request.", "server_error", None
            ),
        ),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ],
)
def test_other_5xx_are_transient(make_client: MakeClient, status: int, body: Any) -> None:
    client, _ = make_client(respond(status, body))

    error = failure(client)

    assert type(error) is Transient
    assert error.status == status
    assert error.retryable


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Invalid image: the image data you provided does not represent a valid image."),
        (413, "Request too large for gpt-4o-mini: the request body exceeds 20 MB."),
    ],
)
def test_400_and_413_are_bad_requests_with_the_provider_message(
    make_client: MakeClient, status: int, message: str
) -> None:
    client, _ = make_client(respond(status, error_body(message, "invalid_request_error", None)))

    error = failure(client)

    assert type(error) is BadRequest
    assert error.status == status
    assert not error.retryable
    assert message in str(error)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Incorrect API key provided: sk-proj-********************************cdef."),
        (403, "You are not allowed to sample from this model"),
    ],
)
def test_401_and_403_are_auth_errors(make_client: MakeClient, status: int, message: str) -> None:
    code = "invalid_api_key" if status == 401 else None
    client, _ = make_client(respond(status, error_body(message, "invalid_request_error", code)))

    error = failure(client)

    assert type(error) is AuthError
    assert error.status == status
    assert not error.retryable
    assert message in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.PoolTimeout("timed out"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
    ],
)
def test_transport_failures_are_transient_and_keep_the_cause(
    make_client: MakeClient, exc: httpx.HTTPError
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make_client(handler)

    error = failure(client)

    assert type(error) is Transient
    assert error.retryable
    assert error.__cause__ is exc
    assert type(exc).__name__ in str(error)


@pytest.mark.parametrize(
    "content",
    [
        b'{"id": "chatcmpl-1", "choices": [',
        b"<html>upstream returned garbage</html>",
        b"\xff\xfe\x00not utf-8",
        json.dumps({"id": "chatcmpl-1", "object": "chat.completion"}).encode(),
        json.dumps(completion()).replace('"choices"', '"choice"').encode(),
        json.dumps({**completion(), "choices": []}).encode(),
        json.dumps(completion(content="")).encode(),
        json.dumps(completion(content=" \n\t ")).encode(),
        json.dumps(completion(content=None)).encode(),
        json.dumps(["not", "an", "object"]).encode(),
    ],
    ids=[
        "truncated-json",
        "html",
        "not-utf8",
        "no-choices",
        "misspelt-choices",
        "empty-choices",
        "empty-caption",
        "blank-caption",
        "null-caption",
        "list-body",
    ],
)
def test_malformed_200_bodies_are_transient(make_client: MakeClient, content: bytes) -> None:
    client, _ = make_client(lambda request: httpx.Response(200, content=content))

    error = failure(client)

    assert type(error) is Transient
    assert error.retryable
    assert error.__cause__ is not None


# --- keys --------------------------------------------------------------------------------------


def test_missing_keys_lists_unset_and_empty_variables_only() -> None:
    providers = [
        provider(name="a", api_key_env="A_KEY"),
        provider(name="b", api_key_env=None),
        provider(name="c", api_key_env="C_KEY"),
        provider(name="d", api_key_env="D_KEY"),
    ]

    assert missing_keys(providers, {"A_KEY": "sk-a", "C_KEY": ""}) == ["C_KEY", "D_KEY"]
    assert missing_keys(providers, {"A_KEY": "a", "C_KEY": "c", "D_KEY": "d"}) == []


def test_unset_key_on_a_real_provider_is_a_config_error_naming_the_variable() -> None:
    other_secret = "sk-" + "other-provider-secret-value"  # split: no key-shaped literal

    with pytest.raises(ConfigError) as caught:
        build_client(provider(), KeySettings(env=KEY_ENV), env={"OTHER_KEY": other_secret})

    message = str(caught.value)
    assert KEY_ENV in message
    assert "openai" in message
    assert other_secret not in message
    assert "\n" not in message


def test_empty_key_counts_as_unset() -> None:
    with pytest.raises(ConfigError, match=KEY_ENV):
        build_client(provider(), KeySettings(env=KEY_ENV), env={KEY_ENV: ""})


def test_simulated_provider_with_unset_key_sends_the_simulated_key(make_client: MakeClient) -> None:
    client, recorder = make_client(ok, env={}, simulated=True)

    call(client)

    assert recorder.requests[0].headers["authorization"] == f"Bearer {SIMULATED_KEY}"


def test_simulated_provider_with_a_set_key_sends_that_key(make_client: MakeClient) -> None:
    client, recorder = make_client(ok, simulated=True)

    call(client)

    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_no_key_variable_sends_no_auth_header(make_client: MakeClient) -> None:
    client, recorder = make_client(ok, provider(api_key_env=None), env={KEY_ENV: KEY})

    call(client)

    assert "authorization" not in recorder.requests[0].headers
    assert client.key_alias is None


def test_no_key_variable_on_a_simulated_job_sends_the_simulated_key(
    make_client: MakeClient,
) -> None:
    client, recorder = make_client(ok, provider(api_key_env=None), env={}, simulated=True)

    call(client)

    assert recorder.requests[0].headers["authorization"] == f"Bearer {SIMULATED_KEY}"
