"""Test helpers shared across the suite (fixtures live in conftest.py)."""

from __future__ import annotations

__all__ = ["T0", "FakeClock"]

#: A round epoch second; every step the tests take is a binary fraction, so ms stay exact.
T0 = 1_700_000_000.0


class FakeClock:
    """Epoch seconds that move only when a test says so (STYLE.md §8: inject the clock)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
