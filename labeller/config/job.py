"""What a job was asked to do, stored with it so every worker labels it the same way."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from labeller.config.frames import BinningSettings, RecordingSettings, RenderSettings
from labeller.config.providers import ProviderSettings
from labeller.config.routing import CacheSettings, RoutingSettings
from labeller.config.settings import Settings
from labeller.errors import ConfigError

__all__ = ["JobSpec"]


class JobSpec(BaseModel):
    """A job's settings, frozen at creation. It holds env var names, never keys: a worker reads
    the keys from its own environment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Absolute path of the recording; every worker opens it there.
    recording: str
    recording_options: RecordingSettings
    binning: BinningSettings
    render: RenderSettings
    prompt: str
    max_attempts: int
    lease_s: float
    providers: list[ProviderSettings]
    routing: RoutingSettings = RoutingSettings()
    cache: CacheSettings = CacheSettings()
    #: Spend (USD) at which the job pauses.
    budget_usd: float | None = None
    #: Served by the built-in simulator: captions are synthetic.
    simulated: bool = False
    #: The simulator profiles it ran with, so a requeue simulates the same providers.
    simulator: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, recording: str, simulated: bool) -> JobSpec:
        return cls(
            recording=recording,
            recording_options=settings.recording,
            binning=settings.binning,
            render=settings.render,
            prompt=settings.prompt,
            max_attempts=settings.max_attempts,
            lease_s=settings.lease_s,
            providers=settings.providers,
            routing=settings.routing,
            cache=settings.cache,
            budget_usd=settings.budget_usd,
            simulated=simulated,
            simulator=settings.simulator if simulated else None,
        )

    def provider(self, name: str) -> ProviderSettings:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise ConfigError(f"job spec: no provider named {name!r}")
