"""labeller.example.yaml loads, and documents every settings key, so the docs cannot drift."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from labeller.config import (
    BinningSettings,
    CacheSettings,
    ProviderSettings,
    RecordingSettings,
    RenderSettings,
    RoutingSettings,
    Settings,
    load_settings,
)
from labeller.simulator import ModelProfile, SimulatorConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "labeller.example.yaml"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file alone decides: no LABELLER_* variable of the developer's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("LABELLER_"):
            monkeypatch.delenv(name)


def _raw() -> dict[str, Any]:
    loaded = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_example_loads_as_settings() -> None:
    settings = load_settings(EXAMPLE)
    openai, anthropic, gemini, local = settings.providers
    assert (openai.name, openai.kind, openai.model) == ("openai", "openai", "gpt-4o")
    assert [(k.env, k.rpm, k.tpm) for k in openai.key_list] == [
        ("OPENAI_API_KEY", 500, 30000),
        ("OPENAI_API_KEY_2", 500, 30000),
    ]
    assert (openai.weight, openai.fallback) == (0.5, ["anthropic", "gemini"])
    assert (anthropic.kind, anthropic.model, anthropic.api_key_env) == (
        "anthropic",
        "claude-haiku-4-5",
        "ANTHROPIC_API_KEY",
    )
    assert (anthropic.weight, anthropic.fallback) == (0.3, ["gemini", "openai"])
    assert (gemini.kind, gemini.model, gemini.project, gemini.location) == (
        "vertex",
        "gemini-2.5-flash",
        "my-project",
        "us-central1",
    )
    assert (gemini.credentials_file, gemini.key_list) == ("/secrets/vertex-sa.json", [])
    assert (gemini.weight, gemini.fallback) == (0.2, ["openai"])
    assert (local.name, local.base_url, local.key_list) == ("local", "http://localhost:8000/v1", [])
    assert local.weight == 0.0
    assert (settings.routing, settings.cache, settings.budget_usd) == (
        RoutingSettings(),
        CacheSettings(),
        None,
    )


def test_example_simulator_section_is_a_simulator_config() -> None:
    config = SimulatorConfig.model_validate(load_settings(EXAMPLE).simulator)
    assert config.models, "the example should show at least one model profile"
    models = {p.model for p in load_settings(EXAMPLE).providers}
    assert models <= set(config.models), "every example provider's model has a profile"


def test_every_settings_key_is_documented_with_its_env_var() -> None:
    text = EXAMPLE.read_text()
    raw = _raw()
    for name in Settings.model_fields:
        assert name in text
        assert name in raw, f"{name}: not set in the example"
        assert f"LABELLER_{name.upper()}" in text, f"{name}: env var not named"


def test_every_provider_and_profile_field_is_shown() -> None:
    text = EXAMPLE.read_text()
    raw = _raw()
    for name in ProviderSettings.model_fields:
        assert name in text
        assert all(name in provider for provider in raw["providers"]), f"providers[].{name}"
    for name in ModelProfile.model_fields:
        assert all(name in profile for profile in raw["simulator"]["models"].values()), name
    assert set(SimulatorConfig.model_fields) <= set(raw["simulator"])


@pytest.mark.parametrize(
    ("section", "model"),
    [("recording", RecordingSettings), ("binning", BinningSettings), ("render", RenderSettings)],
)
def test_every_frame_setting_is_shown(section: str, model: type[BaseModel]) -> None:
    assert set(model.model_fields) == set(_raw()[section]), f"{section}: keys differ"
