"""Settings (YAML, `LABELLER_*` env, flags) and the job spec stored with each job."""

from __future__ import annotations

from labeller.config.durations import parse_duration_us
from labeller.config.frames import (
    BinningSettings,
    Color,
    LayoutSettings,
    RecordingSettings,
    RenderSettings,
)
from labeller.config.job import JobSpec
from labeller.config.providers import ProviderSettings
from labeller.config.settings import CONFIG_ENV, DEFAULT_PROMPT, Settings, load_settings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PROMPT",
    "BinningSettings",
    "Color",
    "JobSpec",
    "LayoutSettings",
    "ProviderSettings",
    "RecordingSettings",
    "RenderSettings",
    "Settings",
    "load_settings",
    "parse_duration_us",
]
