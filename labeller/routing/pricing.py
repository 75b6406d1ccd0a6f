"""List prices per model, in USD per million tokens, and the cost of one call."""

from __future__ import annotations

from dataclasses import dataclass

from labeller.config import ProviderSettings

__all__ = ["Price", "call_cost", "price_for"]


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


#: Public list prices (USD per 1M tokens) of common captioning models; config overrides them.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
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
