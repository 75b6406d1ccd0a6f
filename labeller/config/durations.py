"""Durations as people write them in settings and flags: `50ms`, `1s`, `250us`, `0.5s`, `10m`."""

from __future__ import annotations

import re
from decimal import Decimal

from labeller.errors import ConfigError

__all__ = ["parse_duration_us"]

#: Microseconds per unit accepted by `parse_duration_us`.
_UNIT_US = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h)")


def parse_duration_us(text: str) -> int:
    """Parse "50ms", "1s", "250us", "0.5s" or "10m" (also "µs", "h") into whole microseconds.

    Raises `ConfigError` naming the text if it has no unit, is malformed or is not a whole µs.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"invalid duration {text!r}: expected a number and a unit (us, ms, s, m, h), e.g. 50ms"
        )
    value = Decimal(match.group(1)) * _UNIT_US[match.group(2)]
    if value != value.to_integral_value():
        raise ConfigError(f"invalid duration {text!r}: not a whole number of microseconds")
    return int(value)
