"""How long and when, said one way by the report and the terminal views."""

from __future__ import annotations

import pytest

from labeller.report import duration, instant

#: 2026-11-26 07:40:12 UTC.
T = 1_795_678_812.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-0.2, "0.0 s"),
        (3.64, "3.6 s"),
        (9.96, "10 s"),
        (42.4, "42 s"),
        (60, "1 min"),
        (725, "12 min 05 s"),
        (3600, "1 h 00 min"),
        (7380, "2 h 03 min"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_instants_are_utc_and_say_so() -> None:
    assert instant(T) == "2026-11-26 07:40:12 UTC"
    assert instant(T, seconds=False) == "2026-11-26 07:40 UTC"
    assert instant(T, seconds=False, zone=False) == "2026-11-26 07:40"
    assert instant(None) == "—"
