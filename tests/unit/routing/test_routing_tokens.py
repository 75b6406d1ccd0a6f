"""TPM: tokens are reserved at acquire, so concurrent calls cannot overshoot; settle corrects."""

from __future__ import annotations

from labeller.routing import Grant, KeyLimits, Limiter, Wait
from tests.support import FakeClock
from tests.unit.routing.routing_support import hammer_many, route

TPM = route(tpm=5_000)


def grant(answer: Grant | Wait) -> Grant:
    assert isinstance(answer, Grant), answer
    return answer


def test_concurrent_calls_reserve_before_any_response(limiter: Limiter) -> None:
    """10 threads ask for 1,000 tokens each against 5,000 TPM: 5 go, none settled yet."""
    answers = hammer_many(limiter, TPM, 1_000, threads=10, each=1)

    grants = [answer for answer in answers if isinstance(answer, Grant)]
    assert len(grants) == 5
    assert [answer for answer in answers if isinstance(answer, Wait)] == [Wait(60.0, "tpm")] * 5


def test_settling_with_fewer_tokens_frees_room(limiter: Limiter) -> None:
    grants = [grant(limiter.acquire(TPM, 1_000)) for _ in range(5)]
    assert limiter.acquire(TPM, 1_000) == Wait(60.0, "tpm")

    for each in grants:
        limiter.settle(each, 500)  # 2,500 tokens in the window now

    grant(limiter.acquire(TPM, 1_000))
    grant(limiter.acquire(TPM, 1_000))
    assert limiter.acquire(TPM, 1_000) == Wait(60.0, "tpm")


def test_settle_is_idempotent(limiter: Limiter) -> None:
    first = grant(limiter.acquire(TPM, 4_000))
    limiter.settle(first, 1_000)
    limiter.settle(first, 1_000)

    grant(limiter.acquire(TPM, 4_000))
    assert limiter.acquire(TPM, 1) == Wait(60.0, "tpm")


def test_settling_with_more_tokens_takes_room(limiter: Limiter) -> None:
    first = grant(limiter.acquire(TPM, 1_000))
    limiter.settle(first, 4_500)

    assert limiter.acquire(TPM, 1_000) == Wait(60.0, "tpm")
    grant(limiter.acquire(TPM, 500))


def test_the_tpm_wait_is_until_enough_tokens_leave(limiter: Limiter, clock: FakeClock) -> None:
    for tokens in (2_000, 1_000, 1_500):  # at t = 0, 10, 20 s
        grant(limiter.acquire(TPM, tokens))
        clock.advance(10.0)

    # t = 30 s, 4,500 reserved: 3,000 more need the 0 s and the 10 s grants to leave.
    assert limiter.acquire(TPM, 3_000) == Wait(40.0, "tpm")
    assert limiter.acquire(TPM, 1_000) == Wait(30.0, "tpm")
    grant(limiter.acquire(TPM, 500))


def test_a_late_settle_after_the_window_changes_nothing(limiter: Limiter, clock: FakeClock) -> None:
    first = grant(limiter.acquire(TPM, 5_000))
    clock.advance(60.0)
    second = grant(limiter.acquire(TPM, 5_000))  # trims the first out of the window

    limiter.settle(first, 0)

    assert limiter.acquire(TPM, 1) == Wait(60.0, "tpm")
    limiter.settle(second, 4_999)
    grant(limiter.acquire(TPM, 1))


def test_an_oversized_call_goes_only_into_an_empty_window(
    limiter: Limiter, clock: FakeClock
) -> None:
    """7,000 tokens can never fit beside anything in 5,000 TPM: waiting for room would wait
    forever, so it is granted alone, into an empty window."""
    grant(limiter.acquire(TPM, 7_000))
    assert limiter.acquire(TPM, 10) == Wait(60.0, "tpm")

    clock.advance(60.0)
    grant(limiter.acquire(TPM, 10))
    clock.advance(15.0)
    assert limiter.acquire(TPM, 7_000) == Wait(45.0, "tpm")  # until the 10 tokens leave
    clock.advance(45.0)
    grant(limiter.acquire(TPM, 7_000))


def test_a_zero_token_window_counts_as_empty(limiter: Limiter) -> None:
    small = grant(limiter.acquire(TPM, 10))
    limiter.settle(small, 0)

    grant(limiter.acquire(TPM, 7_000))


def test_key_and_provider_tpm_both_reserve(limiter: Limiter) -> None:
    limits = route(KeyLimits("A", tpm=3_000), KeyLimits("B", tpm=3_000), tpm=5_000)

    assert grant(limiter.acquire(limits, 2_500)).key_alias == "A"
    assert grant(limiter.acquire(limits, 2_500)).key_alias == "B"
    assert limiter.acquire(limits, 100) == Wait(60.0, "tpm")  # keys have room, provider not
