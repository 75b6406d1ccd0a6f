"""What a job was asked to do, stored with it so every worker labels it the same way."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from labeller.config.frames import BinningSettings, RecordingSettings, RenderSettings
from labeller.config.prompt import FRAME_FIELDS, PromptFacts, check_prompt, render_prompt
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
    #: The prompt as configured: a template when `prompt_template` is set.
    prompt: str
    #: `prompt`'s `{field}`s are filled per frame (`prompt_for`). False in the specs of jobs made
    #: before prompts were templates: their prompt is sent as written, braces and all.
    prompt_template: bool = False
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
            prompt_template=True,
            max_attempts=settings.max_attempts,
            lease_s=settings.lease_s,
            providers=settings.providers,
            routing=settings.routing,
            cache=settings.cache,
            budget_usd=settings.budget_usd,
            simulated=simulated,
            simulator=settings.simulator if simulated else None,
        )

    @model_validator(mode="after")
    def _check_prompt(self) -> JobSpec:
        if self.prompt_template:
            check_prompt(self.prompt)
        return self

    def prompt_for(self, facts: PromptFacts) -> str:
        """The text sent for the frame `facts` describe; ConfigError if it cannot be filled."""
        return render_prompt(self.prompt, facts) if self.prompt_template else self.prompt

    def prompt_varies(self) -> bool:
        """Whether two frames of this job can be sent different words (a per-frame field)."""
        return self.prompt_template and bool(check_prompt(self.prompt) & FRAME_FIELDS)

    def provider(self, name: str) -> ProviderSettings:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise ConfigError(f"job spec: no provider named {name!r}")
