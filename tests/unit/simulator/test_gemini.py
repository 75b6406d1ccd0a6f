"""Gemini API and Vertex AI generateContent, and the OAuth token endpoint, over a real socket."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from labeller.simulator import SimulatorServer
from tests.support import FakeClock
from tests.unit.simulator.simulator_support import (
    GEMINI_MODEL,
    INSTANT,
    VERTEX_PATH,
    gemini_body,
    gemini_post,
    instant,
    jwt,
    png,
    served,
    vertex_token,
)

RPC = "type.googleapis.com/google.rpc."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[httpx.Client]:
    with served(INSTANT, clock) as client:
        yield client


def assert_status(response: httpx.Response, code: int, status: str) -> dict[str, Any]:
    assert response.status_code == code
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert isinstance(error, dict)
    assert error["message"]
    return error


@pytest.mark.parametrize("snake", [False, True])
def test_success_has_the_generate_content_shape(client: httpx.Client, snake: bool) -> None:
    response = gemini_post(client, gemini_body(png(8, 8, (0, 0, 2, 2)), snake=snake))

    assert response.status_code == 200
    body = response.json()
    [candidate] = body["candidates"]
    assert candidate["content"]["role"] == "model"
    [part] = candidate["content"]["parts"]
    assert part["text"].startswith("Simulated caption:")
    assert (candidate["finishReason"], candidate["index"]) == ("STOP", 0)
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == 3 + 258
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert body["modelVersion"] == GEMINI_MODEL


def test_key_in_the_query_string_is_used_and_never_logged(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/v1beta/models/{GEMINI_MODEL}:generateContent?key=AIza-query"

    with caplog.at_level(logging.DEBUG, logger="labeller.simulator"):
        assert client.post(path, json=gemini_body(png(8, 8))).status_code == 200
        client.get("/health")  # the request log of the POST is written before this answer

    assert "generateContent?key=***" in caplog.text
    assert "AIza-query" not in caplog.text
    stats = client.get("/stats").json()["keys"]
    assert stats[SimulatorServer.key_hash("AIza-query")][GEMINI_MODEL]["totals"]["accepted"] == 1


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(384, 384, 258), (385, 100, 258), (769, 768, 516), (1920, 1080, 258 * 6)],
)
def test_image_tokens_are_258_per_tile(
    client: httpx.Client, width: int, height: int, tokens: int
) -> None:
    response = gemini_post(client, gemini_body(png(width, height), text="abcd"))

    assert response.json()["usageMetadata"]["promptTokenCount"] == 1 + tokens


def test_max_output_tokens_is_max_tokens(client: httpx.Client) -> None:
    body = gemini_body(png(8, 8)) | {"generationConfig": {"maxOutputTokens": 4}}

    answer = gemini_post(client, body).json()

    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert answer["usageMetadata"]["candidatesTokenCount"] == 4


def test_missing_key_is_403(client: httpx.Client) -> None:
    path = f"/v1beta/models/{GEMINI_MODEL}:generateContent"

    assert_status(client.post(path, json=gemini_body(png(8, 8))), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"contents": []}', b'{"contents": [{"parts": [{"text": "no image"}]}]}'],
)
def test_invalid_bodies_are_400(client: httpx.Client, body: bytes) -> None:
    path = f"/v1beta/models/{GEMINI_MODEL}:generateContent"

    response = client.post(path, content=body, headers={"x-goog-api-key": "k"})

    assert_status(response, 400, "INVALID_ARGUMENT")


def test_unreadable_image_is_400(client: httpx.Client) -> None:
    assert_status(gemini_post(client, gemini_body(b"not a png")), 400, "INVALID_ARGUMENT")


def test_rate_limit_is_resource_exhausted_with_retry_info(clock: FakeClock) -> None:
    with served(instant(rpm=1), clock) as client:
        assert gemini_post(client, gemini_body(png(8, 8))).status_code == 200
        clock.advance(47)

        error = assert_status(
            gemini_post(client, gemini_body(png(8, 8))), 429, "RESOURCE_EXHAUSTED"
        )

        by_type = {detail["@type"]: detail for detail in error["details"]}
        assert by_type[f"{RPC}RetryInfo"] == {"@type": f"{RPC}RetryInfo", "retryDelay": "13s"}
        [violation] = by_type[f"{RPC}QuotaFailure"]["violations"]
        assert violation["quotaValue"] == "1"
        assert violation["quotaDimensions"]["model"] == GEMINI_MODEL


@pytest.mark.parametrize(
    ("field", "code", "status"),
    [("overload_rate", 503, "UNAVAILABLE"), ("fault_rate", 500, "INTERNAL")],
)
def test_injected_errors_are_rpc_statuses(field: str, code: int, status: str) -> None:
    with served(instant(**{field: 1.0})) as client:
        assert_status(gemini_post(client, gemini_body(png(8, 8))), code, status)


def test_vertex_accepts_a_token_from_the_token_endpoint(client: httpx.Client) -> None:
    token = vertex_token(client)

    response = client.post(
        VERTEX_PATH, json=gemini_body(png(8, 8)), headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    assert response.json()["usageMetadata"]["promptTokenCount"] == 3 + 258
    stats = client.get("/stats").json()["keys"]
    owner = "sim@sim-project.iam.gserviceaccount.com"
    assert stats[SimulatorServer.key_hash(owner)][GEMINI_MODEL]["totals"]["accepted"] == 1


@pytest.mark.parametrize("authorization", [None, "Bearer sim-made-up", "Basic abc"])
def test_vertex_refuses_tokens_it_did_not_issue(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.post(VERTEX_PATH, json=gemini_body(png(8, 8)), headers=headers)

    assert_status(response, 401, "UNAUTHENTICATED")


def test_vertex_tokens_expire_after_an_hour(client: httpx.Client, clock: FakeClock) -> None:
    token = vertex_token(client)
    clock.advance(3600)

    response = client.post(
        VERTEX_PATH, json=gemini_body(png(8, 8)), headers={"Authorization": f"Bearer {token}"}
    )

    assert_status(response, 401, "UNAUTHENTICATED")


def test_token_endpoint_answers_a_jwt_bearer_grant(client: httpx.Client) -> None:
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": jwt({"iss": "a@b.iam.gserviceaccount.com"}),
    }

    body = client.post("/token", data=form).json()

    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["access_token"].startswith("sim-")
    assert (body["expires_in"], body["token_type"]) == (3600, "Bearer")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "assertion": "a.b.c"}, "unsupported_grant_type"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.b"},
            "invalid_grant",
        ),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.!!.c"},
            "invalid_grant",
        ),
    ],
)
def test_token_endpoint_refuses_other_grants(
    client: httpx.Client, form: dict[str, str], error: str
) -> None:
    response = client.post("/token", data=form)

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_unknown_google_path_is_404_not_found(client: httpx.Client) -> None:
    response = client.post("/v1beta/models/x:countTokens", json={}, headers={"x-goog-api-key": "k"})

    assert_status(response, 404, "NOT_FOUND")
