"""load_simulator_config: YAML in, one-line ConfigError naming file and key out."""

from __future__ import annotations

from pathlib import Path

import pytest

from labeller.errors import ConfigError
from labeller.simulator import ModelProfile, SimulatorConfig, load_simulator_config


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
