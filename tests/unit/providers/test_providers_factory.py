"""build_client and missing_keys: one client per (provider, key), keys read from `env` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from labeller.config import KeySettings, ProviderSettings
from labeller.errors import ConfigError
from labeller.providers import (
    SIMULATED_KEY,
    AnthropicClient,
    GeminiClient,
    OpenAIClient,
    build_client,
    missing_keys,
)
from tests.unit.providers.providers_wire import Recorder, call

#: Enough of a 200 for every wire format at once.
UNIVERSAL_ANSWER = {
    "choices": [{"message": {"content": "ok"}}],
    "content": [{"type": "text", "text": "ok"}],
    "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
}


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=UNIVERSAL_ANSWER)


def settings(kind: str, **changes: Any) -> ProviderSettings:
    fields: dict[str, Any] = {"name": kind, "kind": kind, "model": "m-1"}
    if kind == "vertex":
        fields["project"] = "p"
    fields.update(changes)
    return ProviderSettings(**fields)


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("openai", OpenAIClient), ("anthropic", AnthropicClient), ("gemini", GeminiClient)],
)
def test_each_kind_gets_its_client_and_the_key_it_names(kind: str, cls: type[Any]) -> None:
    keys = [KeySettings(env="KEY_ONE"), KeySettings(env="KEY_TWO", rpm=10)]
    provider = settings(kind, keys=keys, timeout_s=7.5)
    recorder = Recorder(ok)

    client, http = build_client(
        provider,
        keys[1],
        env={"KEY_ONE": "sk-one-000000000000", "KEY_TWO": "sk-two-000000000000"},
        transport=httpx.MockTransport(recorder),
    )
    with http:
        call(client)

    assert isinstance(client, cls)
    assert client.key_alias == "KEY_TWO"
    request = recorder.requests[0]
    sent = " ".join(request.headers.values())
    assert "sk-two-000000000000" in sent
    assert "sk-one-000000000000" not in sent
    assert request.extensions["timeout"]["read"] == 7.5
    assert request.extensions["timeout"]["connect"] == 7.5


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("openai", "/v1/chat/completions"),
        ("anthropic", "/v1/messages"),
        ("gemini", "/v1beta/models/m-1:generateContent"),
        (
            "vertex",
            "/v1/projects/p/locations/us-central1/publishers/google/models/m-1:generateContent",
        ),
    ],
)
def test_base_url_replaces_the_endpoint(kind: str, path: str) -> None:
    provider = settings(kind)
    recorder = Recorder(ok)
    base = "http://127.0.0.1:9/v1/" if kind == "openai" else "http://127.0.0.1:9"

    client, http = build_client(
        provider,
        next(iter(provider.key_list), None),
        base_url=base,
        simulated=True,
        env={},
        transport=httpx.MockTransport(recorder),
    )
    with http:
        call(client)

    assert str(recorder.requests[0].url) == f"http://127.0.0.1:9{path}"
    assert SIMULATED_KEY in " ".join(recorder.requests[0].headers.values())


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_unset_key_is_a_config_error_naming_the_variable(kind: str) -> None:
    provider = settings(kind, api_key_env="SOME_KEY_VAR")

    with pytest.raises(ConfigError) as caught:
        build_client(provider, provider.key_list[0], env={"OTHER": "sk-other-secret-123456"})

    message = str(caught.value)
    assert "SOME_KEY_VAR" in message
    assert kind in message
    assert "sk-other-secret-123456" not in message


def test_default_key_variables_follow_the_kind() -> None:
    assert [settings(k).key_list for k in ("openai", "anthropic", "gemini", "vertex")] == [
        [KeySettings(env="OPENAI_API_KEY")],
        [KeySettings(env="ANTHROPIC_API_KEY")],
        [KeySettings(env="GEMINI_API_KEY")],
        [],
    ]


# --- missing_keys ------------------------------------------------------------------------------


def test_missing_keys_covers_every_key_of_every_provider_once() -> None:
    providers = [
        settings("openai", keys=[KeySettings(env="OA_1"), KeySettings(env="OA_2")]),
        settings("anthropic", name="claude", api_key_env="AN_1"),
        settings("gemini", name="gem", keys=[KeySettings(env="OA_2"), KeySettings(env="GE_1")]),
        settings("openai", name="local", api_key_env=None),
    ]

    assert missing_keys(providers, {"OA_1": "x", "GE_1": "", "AN_1": "y"}) == ["OA_2", "GE_1"]
    env = {"OA_1": "x", "OA_2": "x", "GE_1": "x", "AN_1": "x"}
    assert missing_keys(providers, env) == []


def test_missing_keys_names_vertex_credentials(tmp_path: Path) -> None:
    present = tmp_path / "sa.json"
    present.write_text("{}")
    absent = tmp_path / "gone.json"

    assert missing_keys([settings("vertex")], {}) == ["GOOGLE_APPLICATION_CREDENTIALS"]
    assert missing_keys([settings("vertex")], {"GOOGLE_APPLICATION_CREDENTIALS": ""}) == [
        "GOOGLE_APPLICATION_CREDENTIALS"
    ]
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(absent)}
    assert missing_keys([settings("vertex")], env) == [str(absent)]
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(present)}
    assert missing_keys([settings("vertex")], env) == []
    # The setting wins over the variable.
    assert missing_keys([settings("vertex", credentials_file=str(absent))], env) == [str(absent)]
    assert missing_keys([settings("vertex", credentials_file=str(present))], {}) == []
    assert missing_keys([settings("vertex", credentials_file=str(tmp_path))], {}) == [str(tmp_path)]
