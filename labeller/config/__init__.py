"""Settings (YAML, `LABELLER_*` env, flags) and the job spec stored with each job."""

from __future__ import annotations

from labeller.config.durations import parse_duration_us
from labeller.config.feeder import FeederSettings
from labeller.config.frames import (
    BinningSettings,
    Color,
    LayoutSettings,
    RecordingSettings,
    RenderSettings,
)
from labeller.config.job import JobSpec
from labeller.config.prompt import PROMPT_FIELDS, PromptFacts, check_prompt, render_prompt
from labeller.config.providers import (
    DEFAULT_BASE_URLS,
    DEFAULT_KEY_ENVS,
    KeySettings,
    ProviderSettings,
)
from labeller.config.routing import CacheSettings, RoutingSettings
from labeller.config.settings import CONFIG_ENV, DEFAULT_PROMPT, Settings, load_settings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_BASE_URLS",
    "DEFAULT_KEY_ENVS",
    "DEFAULT_PROMPT",
    "PROMPT_FIELDS",
    "FeederSettings",
    "BinningSettings",
    "CacheSettings",
    "Color",
    "JobSpec",
    "KeySettings",
    "LayoutSettings",
    "PromptFacts",
    "ProviderSettings",
    "RecordingSettings",
    "RenderSettings",
    "RoutingSettings",
    "Settings",
    "check_prompt",
    "load_settings",
    "parse_duration_us",
    "render_prompt",
]
