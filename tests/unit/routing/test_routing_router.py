"""Router: weighted, reproducible first choices and fallback walks; pricing per model."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from labeller.config import ProviderSettings
from labeller.routing import Price, Router, call_cost, price_for

FRAMES = 10_000


def provider(name: str, **changes: Any) -> ProviderSettings:
    return ProviderSettings(name=name, model=changes.pop("model", "gpt-4o-mini"), **changes)


def shares(router: Router, job_id: str = "job-1") -> dict[str, float]:
    counts = Counter(router.first(job_id, frame) for frame in range(FRAMES))
    return {name: count / FRAMES for name, count in counts.items()}


@pytest.mark.parametrize(
    "weights",
    [
        {"a": 1.0, "b": 1.0},
        {"a": 1.0, "b": 3.0},
        {"a": 0.5, "b": 0.3, "c": 0.2},
        {"a": 7.0, "b": 2.0, "c": 1.0},
        {"a": 5.0, "b": 0.0, "c": 5.0},
    ],
)
def test_weights_are_respected_within_two_percent(weights: dict[str, float]) -> None:
    router = Router([provider(name, weight=weight) for name, weight in weights.items()])
    total = sum(weights.values())

    observed = shares(router)

    for name, weight in weights.items():
        assert observed.get(name, 0.0) == pytest.approx(weight / total, abs=0.02), name


def test_zero_weight_provider_is_never_chosen_first() -> None:
    router = Router([provider("a"), provider("spare", weight=0.0), provider("b")])

    chosen = {router.first(f"job-{job}", frame) for job in range(5) for frame in range(2_000)}

    assert chosen == {"a", "b"}


def test_one_weighted_provider_takes_every_frame() -> None:
    router = Router([provider("spare", weight=0.0), provider("only", weight=0.1)])

    assert shares(router) == {"only": 1.0}


def test_the_same_job_and_frame_always_start_at_the_same_provider() -> None:
    providers = [provider("a"), provider("b"), provider("c")]
    first, second = Router(providers), Router(list(providers))

    picks = [first.first("job-1", frame) for frame in range(1_000)]

    assert picks == [first.first("job-1", frame) for frame in range(1_000)]
    assert picks == [second.first("job-1", frame) for frame in range(1_000)]


def test_different_jobs_are_mixed_differently() -> None:
    router = Router([provider("a"), provider("b")])

    one = [router.first("job-1", frame) for frame in range(200)]
    other = [router.first("job-2", frame) for frame in range(200)]

    assert one != other


def test_fallback_chain_is_walked_in_order_and_wraps() -> None:
    router = Router(
        [provider("a", fallback=["b", "c"]), provider("b", fallback=["a"]), provider("c")]
    )

    assert [router.next_after("a", attempt) for attempt in range(1, 6)] == ["b", "c", "b", "c", "b"]
    assert [router.next_after("b", attempt) for attempt in range(1, 4)] == ["a", "a", "a"]


def test_no_chain_stays_with_the_provider() -> None:
    router = Router([provider("a", fallback=["c"]), provider("c")])

    assert [router.next_after("c", attempt) for attempt in range(1, 4)] == ["c", "c", "c"]


# --- pricing -----------------------------------------------------------------------------------


def test_default_prices_for_known_models() -> None:
    assert price_for(provider("a", model="gpt-4o-mini")) == Price(0.15, 0.60)
    assert price_for(provider("a", model="gpt-4o")) == Price(2.50, 10.00)


def test_settings_override_each_price_on_its_own() -> None:
    both = provider("a", price_input_per_mtok=1.0, price_output_per_mtok=2.0)
    input_only = provider("a", price_input_per_mtok=1.0)
    free_output = provider("a", price_output_per_mtok=0.0)

    assert price_for(both) == Price(1.0, 2.0)
    assert price_for(input_only) == Price(1.0, 0.60)
    assert price_for(free_output) == Price(0.15, 0.0)


def test_unknown_models_are_free_unless_priced() -> None:
    assert price_for(provider("local", model="llava-1.6-7b")) == Price(0.0, 0.0)
    priced = provider("local", model="llava-1.6-7b", price_output_per_mtok=0.5)
    assert price_for(priced) == Price(0.0, 0.5)


@pytest.mark.parametrize(
    ("price", "prompt", "completion", "expected"),
    [
        (Price(0.15, 0.60), 1_000_000, 1_000_000, 0.75),
        (Price(0.15, 0.60), 1_200, 300, 0.00036),
        (Price(2.50, 10.00), 112, 9, 0.00037),
        (Price(0.0, 0.0), 5_000, 5_000, 0.0),
        (Price(0.15, 0.60), 0, 0, 0.0),
    ],
)
def test_call_cost_is_tokens_times_price_per_million(
    price: Price, prompt: int, completion: int, expected: float
) -> None:
    assert call_cost(price, prompt, completion) == pytest.approx(expected, rel=1e-12, abs=0.0)
