"""List prices per model, in USD per million tokens, and the cost of one call."""

from __future__ import annotations

from dataclasses import dataclass

from labeller.config import ProviderSettings

__all__ = ["Price", "call_cost", "price_for"]


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


#: Public list prices (USD per 1M tokens, standard tier, prompts under 200k tokens) of common
#: captioning models; image tokens are billed as input tokens by all three providers. The
#: `price_*_per_mtok` settings of a provider override these.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "claude-3-5-sonnet-latest": Price(3.00, 15.00),
    "claude-3-7-sonnet-latest": Price(3.00, 15.00),
    "claude-sonnet-4-0": Price(3.00, 15.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-3-5-haiku-latest": Price(0.80, 4.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "gemini-1.5-flash": Price(0.075, 0.30),
    "gemini-1.5-pro": Price(1.25, 5.00),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.5-pro": Price(1.25, 10.00),
}

#: Models we have no price for (self-hosted servers) cost nothing in our accounting.
FREE = Price(0.0, 0.0)


def price_for(provider: ProviderSettings) -> Price:
    default = DEFAULT_PRICES.get(provider.model, FREE)
    return Price(
        provider.price_input_per_mtok
        if provider.price_input_per_mtok is not None
        else default.input_per_mtok,
        provider.price_output_per_mtok
        if provider.price_output_per_mtok is not None
        else default.output_per_mtok,
    )


def call_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6
