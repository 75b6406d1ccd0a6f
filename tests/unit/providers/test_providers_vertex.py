"""Gemini on Vertex AI: a real service-account JSON, a token minted at its `token_uri`.

The RSA key is generated here; the MockTransport serves both the token endpoint (checking the
signed JWT grant with the public key) and `generateContent`, on the one httpx client.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from labeller.config import ProviderSettings
from labeller.errors import AuthError, ConfigError, Transient
from labeller.providers import (
    SIMULATED_KEY,
    CaptionClient,
    GeminiClient,
    ServiceAccountTokenSource,
    build_client,
)
from tests.unit.providers.providers_wire import Recorder, call, failure

TOKEN_URI = "https://oauth2.test.invalid/token"
CLIENT_EMAIL = "captioner@labeller-test.iam.gserviceaccount.com"
PROJECT = "labeller-test"
MODEL = "gemini-2.0-flash-001"
GENERATE_PATH = (
    f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{MODEL}:generateContent"
)
ANSWER = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "Two people walk past a car."}]},
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 270, "candidatesTokenCount": 8, "totalTokenCount": 278},
    "modelVersion": MODEL,
}


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def credentials_file(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> Path:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "109876543210987654321",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": TOKEN_URI,
        "universe_domain": "googleapis.com",
    }
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(info))
    return path


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Google:
    """The token endpoint and Vertex AI: tokens `ya29.token-N`, each good for `expires_in` s."""

    def __init__(self, private_key: rsa.RSAPrivateKey, expires_in: int = 3599) -> None:
        self.public_key = private_key.public_key()
        self.expires_in = expires_in
        self.grants: list[dict[str, Any]] = []
        self.token_status = 200
        self.before_token: Callable[[], None] = lambda: None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URI:
            return self._token(request)
        assert request.url.path == GENERATE_PATH
        return httpx.Response(200, json=ANSWER)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.before_token()
        form = urllib.parse.parse_qs(request.content.decode())
        assert request.method == "POST"
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        header, payload, signature = form["assertion"][0].split(".")
        self.public_key.verify(
            _b64url(signature),
            f"{header}.{payload}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        claims = json.loads(_b64url(payload))
        self.grants.append(claims)
        if self.token_status != 200:
            body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            return httpx.Response(self.token_status, json=body)
        return httpx.Response(
            200,
            json={
                "access_token": f"ya29.token-{len(self.grants)}",
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            },
        )


def vertex(**changes: Any) -> ProviderSettings:
    fields: dict[str, Any] = {
        "name": "vertex",
        "kind": "vertex",
        "model": MODEL,
        "project": PROJECT,
        "max_tokens": 50,
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
    handler: Callable[[httpx.Request], httpx.Response],
    provider: ProviderSettings,
    *,
    env: dict[str, str] | None = None,
    simulated: bool = False,
) -> tuple[CaptionClient, Recorder]:
    recorder = Recorder(handler)
    client, http = build_client(
        provider,
        None,
        simulated=simulated,
        env=env or {},
        transport=httpx.MockTransport(recorder),
    )
    opened.append(http)
    return client, recorder


def test_token_is_fetched_from_token_uri_and_sent_as_bearer(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    google = Google(private_key)
    client, recorder = make(opened, google, vertex(credentials_file=str(credentials_file)))

    response = call(client)
    call(client)

    token_request, first, second = recorder.requests
    assert str(token_request.url) == TOKEN_URI
    (claims,) = google.grants  # one token serves both calls
    assert claims["iss"] == CLIENT_EMAIL
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    for request in (first, second):
        assert str(request.url) == f"https://us-central1-aiplatform.googleapis.com{GENERATE_PATH}"
        assert request.headers["authorization"] == "Bearer ya29.token-1"
        assert "x-goog-api-key" not in request.headers
    body = json.loads(first.content)
    assert body["generationConfig"] == {"maxOutputTokens": 50}
    assert response.caption == "Two people walk past a car."
    assert (response.prompt_tokens, response.completion_tokens) == (270, 8)
    assert client.key_alias == "service-account"


def test_credentials_path_may_come_from_the_environment(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(credentials_file)}
    client, recorder = make(opened, Google(private_key), vertex(), env=env)

    call(client)

    assert recorder.requests[-1].headers["authorization"] == "Bearer ya29.token-1"


def test_global_location_uses_the_global_host(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URI:
            return google(request)
        return httpx.Response(200, json=ANSWER)

    google = Google(private_key)
    provider = vertex(credentials_file=str(credentials_file), location="global")
    client, recorder = make(opened, handler, provider)

    call(client)

    assert str(recorder.requests[-1].url) == (
        f"https://aiplatform.googleapis.com/v1/projects/{PROJECT}/locations/global/publishers/"
        f"google/models/{MODEL}:generateContent"
    )


def test_token_is_refreshed_once_it_nears_expiry(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    google = Google(private_key, expires_in=3600)
    recorder = Recorder(google)
    http = httpx.Client(
        base_url="https://us-central1-aiplatform.googleapis.com/",
        transport=httpx.MockTransport(recorder),
    )
    opened.append(http)
    now = [time.time()]
    tokens = ServiceAccountTokenSource.from_file(
        str(credentials_file), http, provider="vertex", clock=lambda: now[0]
    )
    client = GeminiClient(
        http,
        provider="vertex",
        model=MODEL,
        key_alias="service-account",
        token_source=tokens,
        project=PROJECT,
    )

    call(client)
    now[0] += 3000  # 10 minutes left: still good
    call(client)
    now[0] += 400  # inside the 5-minute margin: refresh first
    call(client)

    calls = [r for r in recorder.requests if str(r.url) != TOKEN_URI]
    assert [r.headers["authorization"] for r in calls] == [
        "Bearer ya29.token-1",
        "Bearer ya29.token-1",
        "Bearer ya29.token-2",
    ]
    assert len(google.grants) == 2
    assert "ya29" not in repr(tokens)


def test_concurrent_callers_share_one_refresh(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    threads_n = 6
    waiting = threading.Condition()
    entered = [0]

    def hold_until_all_entered() -> None:
        with waiting:
            assert waiting.wait_for(lambda: entered[0] == threads_n, timeout=10)

    google = Google(private_key)
    google.before_token = hold_until_all_entered
    http = httpx.Client(transport=httpx.MockTransport(google))
    opened.append(http)
    tokens = ServiceAccountTokenSource.from_file(str(credentials_file), http, provider="vertex")
    seen: list[str] = []

    def worker() -> None:
        with waiting:
            entered[0] += 1
            waiting.notify_all()
        seen.append(tokens.token())

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert seen == ["ya29.token-1"] * threads_n
    assert len(google.grants) == 1


def test_refused_grant_is_an_auth_error(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    google = Google(private_key)
    google.token_status = 400
    client, recorder = make(opened, google, vertex(credentials_file=str(credentials_file)))

    error = failure(client)

    assert type(error) is AuthError
    assert "invalid_grant" in str(error)
    assert len(recorder.requests) == 1  # no generateContent without a token


def test_unreachable_token_endpoint_is_transient(
    opened: list[httpx.Client], credentials_file: Path
) -> None:
    exc = httpx.ConnectError("[Errno 111] Connection refused")

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make(opened, handler, vertex(credentials_file=str(credentials_file)))

    error = failure(client)

    assert type(error) is Transient
    assert error.__cause__ is not None


def test_vertex_errors_never_show_the_token(
    opened: list[httpx.Client], credentials_file: Path, private_key: rsa.RSAPrivateKey
) -> None:
    google = Google(private_key)

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URI:
            return google(request)
        sent = request.headers["authorization"]
        error = {"code": 401, "status": "UNAUTHENTICATED", "message": f"bad credential {sent}"}
        return httpx.Response(401, json={"error": error})

    client, _ = make(opened, handler, vertex(credentials_file=str(credentials_file)))

    error = failure(client, "ya29.token-1")

    assert type(error) is AuthError


def test_simulated_vertex_needs_no_service_account(opened: list[httpx.Client]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=ANSWER)

    client, recorder = make(opened, handler, vertex(base_url="http://127.0.0.1:9"), simulated=True)

    call(client)

    (request,) = recorder.requests
    assert str(request.url) == f"http://127.0.0.1:9{GENERATE_PATH}"
    assert request.headers["authorization"] == f"Bearer {SIMULATED_KEY}"
    assert client.key_alias == "service-account"


def test_real_vertex_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS") as caught:
        build_client(vertex(), None, env={})

    assert "vertex" in str(caught.value)


def test_missing_credentials_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"

    with pytest.raises(ConfigError, match="nowhere.json"):
        build_client(vertex(credentials_file=str(path)), None, env={})


def test_unusable_credentials_file_is_a_config_error_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"type": "service_account", "private_key": "-----BEGIN secret-material"}')

    with pytest.raises(ConfigError) as caught:
        build_client(vertex(credentials_file=str(path)), None, env={})

    assert "broken.json" in str(caught.value)
    assert "secret-material" not in str(caught.value)
