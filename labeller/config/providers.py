"""One route to a VLM: wire format, model, endpoint, the env var of its key, limits, prices."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ProviderSettings"]


class ProviderSettings(BaseModel):
    """One route to a VLM: a wire format, a model, an endpoint and the env var of its key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Short name; also the Celery queue suffix (`vlm.<name>`).
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    #: Wire format. `openai` also serves OpenAI-compatible servers (vLLM, Ollama, LM Studio).
    kind: Literal["openai"] = "openai"
    model: str
    base_url: str = "https://api.openai.com/v1"
    #: Name of the environment variable holding the key; None for servers without auth.
    api_key_env: str | None = "OPENAI_API_KEY"
    #: Share of new frames routed here; weights need not sum to 1.
    weight: float = Field(default=1.0, ge=0.0)
    #: Requests per minute allowed across every worker on every node; None = unlimited.
    rpm: int | None = Field(default=None, gt=0)
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
