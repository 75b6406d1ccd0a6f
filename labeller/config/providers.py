"""One route to a VLM: wire format, model, endpoint, its keys (by env var), limits and prices."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEFAULT_BASE_URLS", "DEFAULT_KEY_ENVS", "KeySettings", "ProviderSettings"]

#: Where each wire format is served unless `base_url` says otherwise. Vertex AI's host depends
#: on the location: `{location}` is filled in.
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "vertex": "https://{location}-aiplatform.googleapis.com",
}
#: The variable a provider's key is read from unless `api_key_env` or `keys` say otherwise.
DEFAULT_KEY_ENVS: dict[str, str | None] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex": None,  # a service account's bearer token, from `credentials_file`
}


class KeySettings(BaseModel):
    """One API key of a provider: the variable that holds it and that key's own limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Name of the environment variable holding the key; also its alias in Attempt rows.
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: Requests and tokens per minute this key may use; None = only the provider's limits.
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class ProviderSettings(BaseModel):
    """One route to a VLM: a wire format, a model, an endpoint and the env vars of its keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Short name; also the Celery queue suffix (`vlm.<name>`).
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    #: Wire format: `openai` (also vLLM, Ollama, LM Studio and other OpenAI-compatible servers),
    #: `anthropic` (Messages API), `gemini` (Gemini API), `vertex` (Gemini on Vertex AI).
    kind: Literal["openai", "anthropic", "gemini", "vertex"] = "openai"
    model: str
    #: Endpoint; None takes the kind's public one (DEFAULT_BASE_URLS).
    base_url: str | None = None
    #: One key: the variable holding it (None for servers without auth). Ignored with `keys`.
    api_key_env: str | None = None
    #: Several keys, used by available capacity; each may carry its own limits.
    keys: list[KeySettings] = Field(default_factory=list)
    #: Share of new frames routed here; weights need not sum to 1.
    weight: float = Field(default=1.0, ge=0.0)
    #: Requests and tokens per minute for this provider and model across all its keys, every
    #: worker and every node; None = unlimited.
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    #: Calls in flight at once across every worker; None = unlimited.
    max_in_flight: int | None = Field(default=None, gt=0)
    #: Messages kept outstanding on this provider's queue by the feeder; None sizes it from
    #: the limits (see `feeder.queue_depth`).
    queue_depth: int | None = Field(default=None, ge=1)
    #: Bound on one HTTP call; far below the broker's visibility timeout.
    timeout_s: float = Field(default=60.0, gt=0.0, le=600.0)
    #: Providers to try, in order, when this one answers 429, 529, 5xx or times out.
    fallback: list[str] = Field(default_factory=list)
    #: OpenAI image detail: `low` is 85 tokens a frame.
    detail: Literal["low", "high", "auto"] = "low"
    max_tokens: int = Field(default=120, gt=0)
    #: Prices in USD per million tokens; None takes the built-in table for the model.
    price_input_per_mtok: float | None = Field(default=None, ge=0.0)
    price_output_per_mtok: float | None = Field(default=None, ge=0.0)
    #: Anthropic: the `anthropic-version` header.
    anthropic_version: str = "2023-06-01"
    #: Vertex AI: project, region, and the service-account JSON (else
    #: GOOGLE_APPLICATION_CREDENTIALS) whose bearer token authorises the calls.
    project: str | None = None
    location: str = "us-central1"
    credentials_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_key_env(cls, data: Any) -> Any:
        """A provider without `api_key_env` or `keys` reads its kind's usual variable."""
        if isinstance(data, dict) and "api_key_env" not in data and not data.get("keys"):
            kind = data.get("kind", "openai")
            return {**data, "api_key_env": DEFAULT_KEY_ENVS.get(kind)}
        return data

    @model_validator(mode="after")
    def _check(self) -> ProviderSettings:
        if self.kind == "vertex" and not self.project:
            raise ValueError(f"{self.name}: kind vertex needs `project`")
        envs = [k.env for k in self.keys]
        if len(set(envs)) != len(envs):
            raise ValueError(f"{self.name}: keys repeat an env var: {envs}")
        return self

    @property
    def endpoint(self) -> str:
        """The base URL calls go to."""
        return self.base_url or DEFAULT_BASE_URLS[self.kind].format(location=self.location)

    @property
    def key_list(self) -> list[KeySettings]:
        """Every key of this provider: `keys`, or the single `api_key_env` (or none)."""
        if self.keys:
            return list(self.keys)
        return [KeySettings(env=self.api_key_env)] if self.api_key_env else []
