"""Circuit breaker in Redis: opens after N failures, one half-open probe, closes or re-opens."""

from __future__ import annotations

import pytest

from labeller.routing import Grant, Limiter, RedisBackend, Wait
from tests.support import FakeClock
from tests.unit.routing.routing_support import ROUTING, hammer_many, route

OPENAI = route(rpm=1_000)


def grant(answer: Grant | Wait) -> Grant:
    assert isinstance(answer, Grant), answer
    return answer


def breaker_state(limiter: Limiter) -> object:
    breaker = limiter.snapshot(OPENAI)["breaker"]
    assert isinstance(breaker, dict)
    return breaker["state"]


def open_breaker(limiter: Limiter) -> None:
    for _ in range(3):  # the fixture's routing: 3 failures open it for 30 s
        limiter.record_failure("openai")


def test_opens_after_n_consecutive_failures(limiter: Limiter, clock: FakeClock) -> None:
    limiter.record_failure("openai")
    limiter.record_failure("openai")
    grant(limiter.acquire(OPENAI, 0))

    limiter.record_failure("openai")

    assert breaker_state(limiter) == "open"
    assert limiter.acquire(OPENAI, 0) == Wait(30.0, "breaker")
    clock.advance(10.0)
    assert limiter.acquire(OPENAI, 0) == Wait(20.0, "breaker")


def test_a_success_resets_the_count(limiter: Limiter) -> None:
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        if outcome == "ok":
            limiter.record_success("openai")
        else:
            limiter.record_failure("openai")

    assert breaker_state(limiter) == "closed"
    grant(limiter.acquire(OPENAI, 0))


def test_half_open_admits_exactly_one_probe(limiter: Limiter, clock: FakeClock) -> None:
    open_breaker(limiter)
    clock.advance(30.0)

    answers = hammer_many(limiter, OPENAI, 0, threads=16, each=2)

    assert sum(isinstance(answer, Grant) for answer in answers) == 1
    assert [a for a in answers if isinstance(a, Wait)] == [Wait(0.5, "breaker")] * 31
    assert breaker_state(limiter) == "half_open"


@pytest.mark.parametrize("settle_first", [False, True])
def test_the_probes_success_closes_it(
    limiter: Limiter, clock: FakeClock, settle_first: bool
) -> None:
    open_breaker(limiter)
    clock.advance(30.0)
    probe = grant(limiter.acquire(OPENAI, 0))

    if settle_first:
        limiter.settle(probe, 10)
        assert limiter.acquire(OPENAI, 0) == Wait(0.5, "breaker")  # still one probe out
    limiter.record_success("openai")
    limiter.settle(probe, 10)

    assert breaker_state(limiter) == "closed"
    assert all(isinstance(limiter.acquire(OPENAI, 0), Grant) for _ in range(5))


@pytest.mark.parametrize("settle_first", [False, True])
def test_the_probes_failure_reopens_it(
    limiter: Limiter, clock: FakeClock, settle_first: bool
) -> None:
    open_breaker(limiter)
    clock.advance(45.0)
    probe = grant(limiter.acquire(OPENAI, 0))
    clock.advance(2.0)

    if settle_first:
        limiter.settle(probe, 0)
        assert limiter.acquire(OPENAI, 0) == Wait(0.5, "breaker")
    limiter.record_failure("openai")
    limiter.settle(probe, 0)

    assert breaker_state(limiter) == "open"
    assert limiter.acquire(OPENAI, 0) == Wait(30.0, "breaker")  # a fresh open period
    clock.advance(30.0)
    grant(limiter.acquire(OPENAI, 0))  # the next probe
    assert limiter.acquire(OPENAI, 0) == Wait(0.5, "breaker")


def test_a_probe_settled_without_an_outcome_lets_another_probe(
    limiter: Limiter, clock: FakeClock
) -> None:
    """A probe that met a 429 or a bad request proved nothing about the provider."""
    open_breaker(limiter)
    clock.advance(30.0)
    probe = grant(limiter.acquire(OPENAI, 0))

    limiter.settle(probe, 0)
    clock.advance(1.75)
    assert limiter.acquire(OPENAI, 0) == Wait(0.25, "breaker")  # the grace for its outcome
    clock.advance(0.25)

    grant(limiter.acquire(OPENAI, 0))
    assert limiter.acquire(OPENAI, 0) == Wait(0.5, "breaker")


def test_a_dead_probes_claim_ends_with_its_lease(
    backend: RedisBackend, key_prefix: str, clock: FakeClock
) -> None:
    limiter = Limiter(backend, key_prefix, routing=ROUTING, clock=clock, lease_s=20.0)
    open_breaker(limiter)
    clock.advance(30.0)
    grant(limiter.acquire(OPENAI, 0))  # its worker dies: no outcome, no settle

    clock.advance(19.75)
    assert limiter.acquire(OPENAI, 0) == Wait(0.25, "breaker")
    clock.advance(0.25)
    grant(limiter.acquire(OPENAI, 0))


def test_outcomes_of_calls_sent_before_it_opened_change_nothing(
    limiter: Limiter, clock: FakeClock
) -> None:
    open_breaker(limiter)

    limiter.record_success("openai")
    limiter.record_failure("openai")

    assert limiter.acquire(OPENAI, 0) == Wait(30.0, "breaker")


def test_breakers_are_per_provider(limiter: Limiter) -> None:
    open_breaker(limiter)

    grant(limiter.acquire(route(provider="other"), 0))


def test_a_blocked_probe_does_not_claim_the_half_open_slot(
    limiter: Limiter, clock: FakeClock
) -> None:
    limits = route(rpm=1)
    grant(limiter.acquire(limits, 0))
    open_breaker(limiter)
    clock.advance(30.0)
    assert limiter.acquire(limits, 0) == Wait(30.0, "rpm")

    clock.advance(30.0)
    grant(limiter.acquire(limits, 0))
    assert breaker_state(limiter) == "half_open"
