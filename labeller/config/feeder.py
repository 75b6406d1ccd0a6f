"""How the feeder keeps provider queues topped up and the sweeper finds lost frames."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FeederSettings"]


class FeederSettings(BaseModel):
    """One feeder at a time (a lease in Redis) runs inside the workers, on any node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Run a feeder thread in each worker process (only the one holding the lease feeds).
    enabled: bool = True
    #: Seconds between two rounds of topping up, sweeping and finishing jobs.
    interval_s: float = Field(default=1.0, gt=0.0, le=60.0)
    #: Messages outstanding per provider queue unless the provider sets `queue_depth`; None
    #: sizes it from the provider's limits (30 s of its `rpm`, 2 x `max_in_flight`, else 1000).
    queue_depth: int | None = Field(default=None, ge=1)
    #: A frame queued this long (s) without a worker taking it is presumed lost (a purged
    #: queue, a publish that never arrived) and published again; a duplicate is harmless.
    lost_after_s: float = Field(default=900.0, gt=0.0)
