"""load_simulator_config: YAML in, one-line ConfigError naming file and key out."""

from __future__ import annotations

from pathlib import Path

import pytest

from labeller.errors import ConfigError
from labeller.simulator import Latency, ModelProfile, SimulatorConfig, load_simulator_config


def test_none_gives_defaults() -> None:
    assert load_simulator_config(None) == SimulatorConfig()


def test_reads_profiles(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("seed: 7\nmodels:\n  gpt-4o:\n    rpm: 3\n    fault_rate: 0.5\n")

    config = load_simulator_config(path)

    assert config.seed == 7
    assert config.profile("gpt-4o") == ModelProfile(rpm=3, fault_rate=0.5)
    assert config.profile("unknown") == ModelProfile()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("models:\n  gpt-4o:\n    rpn: 3\n", "models.gpt-4o.rpn"),
        ("default:\n  fault_rate: 2\n", "default.fault_rate"),
        ("seed: [1]\n", "seed"),
    ],
)
def test_invalid_key_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_simulator_config(path)

    message = str(caught.value)
    assert str(path) in message
    assert key in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["models: [", "- a list\n"])
def test_unreadable_yaml_names_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match="sim.yaml"):
        load_simulator_config(path)


def test_missing_file_names_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.yaml"):
        load_simulator_config(tmp_path / "absent.yaml")


def test_reads_the_new_profile_fields(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        "default:\n  latency: lognormal\n  latency_sigma: 0.8\n  tpm: 1000\n"
        "  timeout_rate: 0.1\n  timeout_s: 5\n  malformed_rate: 0.1\n  overload_rate: 0.1\n"
        "  rate_limit_rate: 0.1\n"
    )

    profile = load_simulator_config(path).default

    assert profile.latency is Latency.lognormal
    assert (profile.latency_sigma, profile.tpm, profile.timeout_s) == (0.8, 1000, 5.0)


def test_defaults_keep_todays_behaviour() -> None:
    profile = ModelProfile()

    assert profile.latency is Latency.uniform
    assert (profile.rpm, profile.tpm) == (None, None)
    rates = (profile.rate_limit_rate, profile.overload_rate, profile.fault_rate)
    assert rates + (profile.timeout_rate, profile.malformed_rate) == (0.0,) * 5


def test_rates_adding_up_past_one_name_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("models:\n  m:\n    fault_rate: 0.6\n    overload_rate: 0.6\n")

    with pytest.raises(ConfigError, match=r"models\.m.*add up to 1\.2"):
        load_simulator_config(path)


@pytest.mark.parametrize("text", ["default:\n  latency: gaussian\n", "default:\n  tpm: 0\n"])
def test_bad_new_fields_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match="default"):
        load_simulator_config(path)
