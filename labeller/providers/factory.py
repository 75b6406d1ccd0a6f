"""Build one client per (provider, key); keys and credentials are read here, from `env`.

The key becomes a SecretStr the moment it is read; Attempt rows record only its alias (the
variable's name, or `service-account` for Vertex AI). A simulated job never needs a real key:
where one is missing it sends SIMULATED_KEY, and Vertex AI sends it as the bearer token without
touching the service account, so a dry run never asks Google for a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx
from pydantic import SecretStr

from labeller.config import KeySettings, ProviderSettings
from labeller.errors import ConfigError
from labeller.providers.anthropic import AnthropicClient
from labeller.providers.base import CaptionClient
from labeller.providers.gemini import GeminiClient, StaticTokenSource, TokenSource
from labeller.providers.openai import OpenAIClient
from labeller.providers.vertex import ServiceAccountTokenSource

__all__ = [
    "CREDENTIALS_ENV",
    "SERVICE_ACCOUNT_ALIAS",
    "SIMULATED_KEY",
    "build_client",
    "missing_keys",
]

#: The key sent to the simulator when a simulated job's key variable is not set.
SIMULATED_KEY = "sk-simulated-labeller"
#: Where Google's libraries look for a service-account JSON when settings name none.
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
#: The key alias of every Vertex AI call.
SERVICE_ACCOUNT_ALIAS = "service-account"
#: Vertex AI's global location has no regional host prefix.
_VERTEX_GLOBAL = "https://aiplatform.googleapis.com"


def _credentials_path(provider: ProviderSettings, env: Mapping[str, str]) -> str | None:
    return provider.credentials_file or env.get(CREDENTIALS_ENV) or None


def missing_keys(providers: list[ProviderSettings], env: Mapping[str, str]) -> list[str]:
    """What providers need and `env` lacks, each once, in order: the names of unset (or empty)
    key variables; for Vertex AI, CREDENTIALS_ENV when no credentials file is named, or the
    path of a named file that does not exist.
    """
    missing: list[str] = []
    for provider in providers:
        if provider.kind == "vertex":
            path = _credentials_path(provider, env)
            needs = [CREDENTIALS_ENV] if path is None else ([] if Path(path).is_file() else [path])
        else:
            needs = [k.env for k in provider.key_list if not env.get(k.env)]
        missing.extend(n for n in needs if n not in missing)
    return missing


def _api_key(
    provider: ProviderSettings, key: KeySettings | None, env: Mapping[str, str], simulated: bool
) -> SecretStr | None:
    if key is None:
        # The simulator wants a key even where the real server (vLLM, Ollama) needs none.
        return SecretStr(SIMULATED_KEY) if simulated else None
    value = env.get(key.env)
    if value:
        return SecretStr(value)
    if simulated:
        return SecretStr(SIMULATED_KEY)
    raise ConfigError(
        f"providers.{provider.name}: environment variable {key.env} (its API key) is not set"
    )


def _token_source(
    provider: ProviderSettings, env: Mapping[str, str], simulated: bool, http: httpx.Client
) -> TokenSource:
    if simulated:
        return StaticTokenSource(SecretStr(SIMULATED_KEY))
    path = _credentials_path(provider, env)
    if path is None:
        raise ConfigError(
            f"providers.{provider.name}.credentials_file: not set, and neither is {CREDENTIALS_ENV}"
        )
    if not Path(path).is_file():
        raise ConfigError(f"providers.{provider.name}.credentials_file: {path} does not exist")
    return ServiceAccountTokenSource.from_file(path, http, provider=provider.name)


def _endpoint(provider: ProviderSettings) -> str:
    if provider.kind == "vertex" and provider.base_url is None and provider.location == "global":
        return _VERTEX_GLOBAL
    return provider.endpoint


def build_client(
    provider: ProviderSettings,
    key: KeySettings | None,
    *,
    base_url: str | None = None,
    simulated: bool = False,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> tuple[CaptionClient, httpx.Client]:
    """The client for one key of `provider` and the httpx.Client it owns (close that on
    shutdown). `key` is one of `provider.key_list`, or None for a keyless server; Vertex AI
    ignores it. `base_url` replaces the provider's endpoint (the simulator's, in a dry run).

    Raises ConfigError naming the variable or file when a real run lacks a key or credentials.
    """
    env = os.environ if env is None else env
    http = httpx.Client(
        base_url=(base_url or _endpoint(provider)).rstrip("/") + "/",
        timeout=httpx.Timeout(provider.timeout_s, connect=min(10.0, provider.timeout_s)),
        # No cap on connections: the worker's threads (`worker_concurrency`) bound the calls in
        # flight, and a cap below them would make threads queue for a connection (and time
        # out as PoolTimeout) before the provider ever saw the call. Nor on idle ones kept
        # alive: with more threads than kept connections, every call over the cap paid for a
        # TCP connect and close (idle connections still close after httpx's 5 s expiry).
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        transport=transport,
    )
    try:
        return _client(provider, key, env, simulated, http), http
    except BaseException:
        http.close()
        raise


def _client(
    provider: ProviderSettings,
    key: KeySettings | None,
    env: Mapping[str, str],
    simulated: bool,
    http: httpx.Client,
) -> CaptionClient:
    alias = key.env if key is not None else None
    if provider.kind == "anthropic":
        return AnthropicClient(
            http,
            provider=provider.name,
            model=provider.model,
            api_key=_api_key(provider, key, env, simulated),
            key_alias=alias,
            anthropic_version=provider.anthropic_version,
            max_tokens=provider.max_tokens,
        )
    if provider.kind == "gemini":
        return GeminiClient(
            http,
            provider=provider.name,
            model=provider.model,
            key_alias=alias,
            api_key=_api_key(provider, key, env, simulated),
            max_tokens=provider.max_tokens,
        )
    if provider.kind == "vertex":
        return GeminiClient(
            http,
            provider=provider.name,
            model=provider.model,
            key_alias=SERVICE_ACCOUNT_ALIAS,
            token_source=_token_source(provider, env, simulated, http),
            project=provider.project,
            location=provider.location,
            max_tokens=provider.max_tokens,
        )
    return OpenAIClient(
        http,
        provider=provider.name,
        model=provider.model,
        api_key=_api_key(provider, key, env, simulated),
        key_alias=alias,
        detail=provider.detail,
        max_tokens=provider.max_tokens,
    )
