"""The states of a provider's circuit breaker, kept in Redis (`lua/breaker.lua`, `acquire.lua`).

closed → open after `RoutingSettings.breaker_failures` consecutive failures; open → half-open
once `breaker_open_s` has passed, when exactly one acquire (the probe) is granted; the probe's
success closes it, its failure re-opens it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BreakerState"]


class BreakerState(StrEnum):
    #: Calls flow; failures are counted.
    CLOSED = "closed"
    #: No call is granted until the open period ends.
    OPEN = "open"
    #: One probe is out (or may go); everyone else waits for its outcome.
    HALF_OPEN = "half_open"
