"""SlidingWindow: RPM and TPM over one 60 s window, retry-after and reset values."""

from __future__ import annotations

from labeller.simulator._limits import UNLIMITED_REQUESTS, UNLIMITED_TOKENS, SlidingWindow

T = 1_000.0


def test_tpm_waits_until_enough_tokens_leave() -> None:
    window = SlidingWindow()
    assert window.acquire("k", "m", None, 100, 40, T).allowed
    assert window.acquire("k", "m", None, 100, 30, T + 10).allowed
    assert window.acquire("k", "m", None, 100, 20, T + 20).allowed

    refused = window.acquire("k", "m", None, 100, 50, T + 30)

    assert not refused.allowed
    assert refused.exceeded == "tokens"
    assert (refused.used_tokens, refused.remaining_tokens) == (90, 10)
    # 90 + 50 - 100 = 40 tokens must leave: the first entry (40) does it at T + 60.
    assert refused.retry_after_s == 30.0
    assert refused.reset_tokens_s == 50.0
    assert refused.requested_tokens == 50
    assert window.acquire("k", "m", None, 100, 50, T + 60).allowed


def test_tpm_wait_can_need_several_entries_to_leave() -> None:
    window = SlidingWindow()
    for at in (0, 5, 10):
        window.acquire("k", "m", None, 90, 30, T + at)

    refused = window.acquire("k", "m", None, 90, 60, T + 20)

    # 90 + 60 - 90 = 60 tokens must leave: the first two entries, the second at T + 5 + 60.
    assert refused.retry_after_s == 45.0


def test_rpm_and_tpm_both_apply_and_tokens_are_named_first() -> None:
    window = SlidingWindow()
    window.acquire("k", "m", 1, 10, 10, T)

    refused = window.acquire("k", "m", 1, 10, 5, T + 1)

    assert refused.exceeded == "tokens"
    assert refused.remaining_requests == 0
    assert refused.retry_after_s == 59.0


def test_a_request_larger_than_the_tpm_never_fits() -> None:
    refused = SlidingWindow().acquire("k", "m", None, 10, 11, T)

    assert (refused.allowed, refused.too_large, refused.retry_after_s) == (False, True, 60.0)


def test_unlimited_reports_large_limits_and_peek_records_nothing() -> None:
    window = SlidingWindow()

    peek = window.acquire("k", "m", None, None, 5, T, record=False)
    done = window.acquire("k", "m", None, None, 5, T)

    assert (peek.limit_requests, peek.limit_tokens) == (UNLIMITED_REQUESTS, UNLIMITED_TOKENS)
    assert (peek.used_requests, peek.used_tokens) == (0, 0)
    assert (done.used_requests, done.used_tokens) == (1, 5)


def test_keys_and_models_have_separate_windows() -> None:
    window = SlidingWindow()
    window.acquire("a", "m", 1, None, 1, T)

    assert window.acquire("b", "m", 1, None, 1, T).allowed
    assert window.acquire("a", "n", 1, None, 1, T).allowed
    assert not window.acquire("a", "m", 1, None, 1, T).allowed
