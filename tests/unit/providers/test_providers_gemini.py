"""GeminiClient on the Gemini API: request shape, parsing, blocked answers and typed errors.

Bodies copy recorded `generateContent` answers and `google.rpc.Status` errors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from labeller.config import ProviderSettings
from labeller.errors import AuthError, BadRequest, Overloaded, RateLimited, Transient
from labeller.providers import SIMULATED_KEY, CaptionClient, build_client
from tests.unit.providers.providers_wire import (
    PNG,
    PROMPT,
    Handler,
    Recorder,
    call,
    failure,
    respond,
)

KEY_ENV = "LABELLER_TEST_GEMINI_KEY"
KEY = "AIza" + "SyT3stK3yNeverPrinted0123456789abcd"  # split: no key-shaped literal
MODEL = "gemini-2.0-flash"


def answer(*texts: str, finish: str = "STOP", **changes: Any) -> dict[str, Any]:
    """A `generateContent` answer as the Gemini API sends it (gemini-2.0-flash)."""
    body: dict[str, Any] = {
        "candidates": [
            {
                "content": {"parts": [{"text": t} for t in texts], "role": "model"},
                "finishReason": finish,
                "avgLogprobs": -0.1234,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 268,
            "candidatesTokenCount": 12,
            "totalTokenCount": 280,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 10},
                {"modality": "IMAGE", "tokenCount": 258},
            ],
        },
        "modelVersion": "gemini-2.0-flash-001",
        "responseId": "mG1iZ4TqJtLb-8YP0pDgqAk",
    }
    body.update(changes)
    return body


def status_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


QUOTA_FAILURE = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [
        {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": MODEL},
            "quotaValue": "15",
        }
    ],
}
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)


def settings(**changes: Any) -> ProviderSettings:
    fields: dict[str, Any] = {
        "name": "gemini",
        "kind": "gemini",
        "model": MODEL,
        "api_key_env": KEY_ENV,
        "max_tokens": 90,
    }
    fields.update(changes)
    return ProviderSettings(**fields)


@pytest.fixture
def opened() -> Iterator[list[httpx.Client]]:
    clients: list[httpx.Client] = []
    yield clients
    for http in clients:
        http.close()


def make(
    opened: list[httpx.Client],
    handler: Handler,
    provider: ProviderSettings | None = None,
    *,
    env: dict[str, str] | None = None,
    simulated: bool = False,
) -> tuple[CaptionClient, Recorder]:
    provider = provider or settings()
    recorder = Recorder(handler)
    client, http = build_client(
        provider,
        next(iter(provider.key_list), None),
        simulated=simulated,
        env={KEY_ENV: KEY} if env is None else env,
        transport=httpx.MockTransport(recorder),
    )
    opened.append(http)
    return client, recorder


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=answer("A dog runs across the frame.\n"))


# --- the request -------------------------------------------------------------------------------


def test_request_goes_to_generate_content_with_the_key_header_and_parts(
    opened: list[httpx.Client],
) -> None:
    client, recorder = make(opened, ok)

    call(client)

    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == (
        f"https://generativelanguage.googleapis.com/v1beta/models/{MODEL}:generateContent"
    )
    assert request.headers["x-goog-api-key"] == KEY
    assert "key=" not in str(request.url)
    assert "authorization" not in request.headers
    body = json.loads(request.content)
    (content,) = body["contents"]
    assert content["role"] == "user"
    text, image = content["parts"]
    assert text == {"text": PROMPT}
    assert image["inline_data"]["mime_type"] == "image/png"
    assert base64.b64decode(image["inline_data"]["data"], validate=True) == PNG
    assert body["generationConfig"] == {"maxOutputTokens": 90}
    assert client.key_alias == KEY_ENV


def test_tuned_model_paths_are_used_as_given(opened: list[httpx.Client]) -> None:
    client, recorder = make(opened, ok, settings(model="tunedModels/event-captioner-7"))

    call(client)

    assert recorder.requests[0].url.path == "/v1beta/tunedModels/event-captioner-7:generateContent"


def test_simulated_without_key_sends_the_simulated_key(opened: list[httpx.Client]) -> None:
    client, recorder = make(opened, ok, env={}, simulated=True)

    call(client)

    assert recorder.requests[0].headers["x-goog-api-key"] == SIMULATED_KEY


def test_key_never_in_repr(opened: list[httpx.Client]) -> None:
    client, _ = make(opened, ok)

    assert KEY not in repr(client)


# --- a 200 -------------------------------------------------------------------------------------


def test_200_joins_text_parts_and_reads_usage(opened: list[httpx.Client]) -> None:
    body = answer("A dog ", "runs across the frame.\n")
    client, _ = make(opened, lambda r: httpx.Response(200, json=body))

    response = call(client)

    assert response.caption == "A dog runs across the frame."
    assert response.model == "gemini-2.0-flash-001"
    assert (response.prompt_tokens, response.completion_tokens) == (268, 12)
    assert response.rate_limit is None
    assert response.rate_limit_headers == {}


def test_thoughts_are_not_caption_but_are_billed_as_output(opened: list[httpx.Client]) -> None:
    body = answer("A ball bounces.")
    body["candidates"][0]["content"]["parts"].insert(0, {"text": "Let me look.", "thought": True})
    body["usageMetadata"]["thoughtsTokenCount"] = 40
    client, _ = make(opened, lambda r: httpx.Response(200, json=body))

    response = call(client)

    assert response.caption == "A ball bounces."
    assert response.completion_tokens == 52


def test_max_tokens_with_some_text_keeps_the_text(opened: list[httpx.Client]) -> None:
    body = answer("A car turns", finish="MAX_TOKENS")
    client, _ = make(opened, lambda r: httpx.Response(200, json=body))

    assert call(client).caption == "A car turns"


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "MAX_TOKENS"])
def test_candidate_without_text_is_a_bad_request_naming_the_reason(
    opened: list[httpx.Client], reason: str
) -> None:
    body = answer(finish=reason)
    del body["candidates"][0]["content"]
    body["candidates"][0]["safetyRatings"] = [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
    ]
    client, _ = make(opened, lambda r: httpx.Response(200, json=body))

    error = failure(client, KEY)

    assert type(error) is BadRequest
    assert not error.retryable
    assert reason in str(error)


def test_blocked_prompt_is_a_bad_request_naming_the_reason(opened: list[httpx.Client]) -> None:
    body = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}],
        },
        "usageMetadata": {"promptTokenCount": 268, "totalTokenCount": 268},
        "modelVersion": "gemini-2.0-flash-001",
    }
    client, _ = make(opened, lambda r: httpx.Response(200, json=body))

    error = failure(client, KEY)

    assert type(error) is BadRequest
    assert "blockReason SAFETY" in str(error)


@pytest.mark.parametrize(
    "content",
    [
        b'{"candidates": [',
        b"<html>502</html>",
        json.dumps({"usageMetadata": {"promptTokenCount": 3}}).encode(),
        json.dumps({"candidates": []}).encode(),
        json.dumps(answer("   ")).encode(),
        json.dumps(answer()).encode(),
        json.dumps({"candidates": [{"content": {"parts": [{"text": 7}]}}]}).encode(),
        json.dumps({"candidates": "nope"}).encode(),
        json.dumps(answer("ok", usageMetadata={"promptTokenCount": "x"})).encode(),
        json.dumps(["a"]).encode(),
    ],
    ids=[
        "truncated",
        "html",
        "no-candidates",
        "empty-candidates",
        "blank-text",
        "stop-without-parts",
        "number-text",
        "string-candidates",
        "bad-usage",
        "list-body",
    ],
)
def test_malformed_200_bodies_are_transient(opened: list[httpx.Client], content: bytes) -> None:
    client, _ = make(opened, lambda r: httpx.Response(200, content=content))

    error = failure(client, KEY)

    assert type(error) is Transient
    assert error.__cause__ is not None


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "headers", "expected_s"),
    [
        ([QUOTA_FAILURE, retry_info("13s")], {}, 13.0),
        ([retry_info("13.5s")], {}, 13.5),
        ([retry_info("0.250s")], {"retry-after": "9"}, 0.25),
        ([QUOTA_FAILURE], {"retry-after": "9"}, 9.0),
        ([retry_info("soon")], {}, None),
        ([], {}, None),
    ],
)
def test_429_resource_exhausted_is_rate_limited_with_the_retry_delay(
    opened: list[httpx.Client],
    details: list[dict[str, Any]],
    headers: dict[str, str],
    expected_s: float | None,
) -> None:
    body = status_error(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE, details)
    client, _ = make(opened, respond(429, body, headers))

    error = failure(client, KEY)

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == expected_s
    assert "RESOURCE_EXHAUSTED" in str(error)
    assert "exceeded your current quota" in str(error)


def test_error_wrapped_in_a_list_is_read(opened: list[httpx.Client]) -> None:
    body = [status_error(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE, [retry_info("2s")])]
    client, _ = make(opened, respond(429, body))

    error = failure(client, KEY)

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 2.0


def test_503_unavailable_is_overloaded(opened: list[httpx.Client]) -> None:
    body = status_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    client, _ = make(opened, respond(503, body))

    error = failure(client, KEY)

    assert type(error) is Overloaded
    assert error.status == 503


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (400, "INVALID_ARGUMENT", "Unable to process input image. Please retry or report."),
        (400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        (
            404,
            "NOT_FOUND",
            "models/gemini-9 is not found for API version v1beta, or is not supported for "
            "generateContent.",
        ),
    ],
)
def test_request_faults_are_bad_requests(
    opened: list[httpx.Client], code: int, status: str, message: str
) -> None:
    client, _ = make(opened, respond(code, status_error(code, status, message)))

    error = failure(client, KEY)

    assert type(error) is BadRequest
    assert error.status == code
    assert message in str(error)


def test_invalid_key_400_is_an_auth_error(opened: list[httpx.Client]) -> None:
    body = status_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )
    client, _ = make(opened, respond(400, body))

    error = failure(client, KEY)

    assert type(error) is AuthError
    assert error.status == 400
    assert "API key not valid" in str(error)


@pytest.mark.parametrize(("code", "status"), [(401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED")])
def test_401_and_403_are_auth_errors(opened: list[httpx.Client], code: int, status: str) -> None:
    message = f"Request had a problem; echoing the key {KEY} back"
    client, _ = make(opened, respond(code, status_error(code, status, message)))

    error = failure(client, KEY)

    assert type(error) is AuthError
    assert error.status == code


@pytest.mark.parametrize(
    ("code", "body"),
    [
        (500, status_error(500, "INTERNAL", "An internal error has occurred.")),
        (504, status_error(504, "DEADLINE_EXCEEDED", "Deadline expired before completion.")),
        (502, b"<html><title>502 Bad Gateway</title></html>"),
    ],
)
def test_other_5xx_are_transient(opened: list[httpx.Client], code: int, body: Any) -> None:
    client, _ = make(opened, respond(code, body))

    error = failure(client, KEY)

    assert type(error) is Transient
    assert error.status == code


def test_transport_failure_is_transient(opened: list[httpx.Client]) -> None:
    exc = httpx.ReadTimeout("timed out")

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make(opened, handler)

    error = failure(client, KEY)

    assert type(error) is Transient
    assert error.__cause__ is exc
