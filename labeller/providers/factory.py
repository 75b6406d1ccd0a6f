"""Build a provider's client from its settings; the key is read here, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx
from pydantic import SecretStr

from labeller.config import ProviderSettings
from labeller.errors import ConfigError
from labeller.providers.base import CaptionClient
from labeller.providers.openai import OpenAIClient

__all__ = ["SIMULATED_KEY", "build_client", "missing_keys"]

#: The key sent to the simulator when a simulated job's key variable is not set.
SIMULATED_KEY = "sk-simulated-labeller"


def missing_keys(providers: list[ProviderSettings], env: Mapping[str, str]) -> list[str]:
    """Env var names that providers need and `env` lacks."""
    return [p.api_key_env for p in providers if p.api_key_env and not env.get(p.api_key_env)]


def _api_key(
    provider: ProviderSettings, env: Mapping[str, str], simulated: bool
) -> SecretStr | None:
    if provider.api_key_env is None:
        # The simulator wants a key even where the real server (vLLM, Ollama) needs none.
        return SecretStr(SIMULATED_KEY) if simulated else None
    value = env.get(provider.api_key_env)
    if value:
        return SecretStr(value)
    if simulated:
        return SecretStr(SIMULATED_KEY)
    raise ConfigError(
        f"providers.{provider.name}.api_key_env: environment variable {provider.api_key_env} "
        "is not set"
    )


def build_client(
    provider: ProviderSettings,
    *,
    base_url: str | None = None,
    simulated: bool = False,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> tuple[CaptionClient, httpx.Client]:
    """The client and the httpx.Client it owns (close that on shutdown)."""
    env = os.environ if env is None else env
    http = httpx.Client(
        base_url=(base_url or provider.endpoint).rstrip("/") + "/",
        timeout=httpx.Timeout(provider.timeout_s, connect=min(10.0, provider.timeout_s)),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        transport=transport,
    )
    client = OpenAIClient(
        http,
        provider=provider.name,
        model=provider.model,
        api_key=_api_key(provider, env, simulated),
        key_alias=provider.api_key_env,
        detail=provider.detail,
        max_tokens=provider.max_tokens,
    )
    return client, http
