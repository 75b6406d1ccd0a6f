"""How the simulator behaves per model: latency, rate limit, faults and caption length.

Profiles are frozen so a running server never sees them change under its threads.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labeller.errors import ConfigError

__all__ = ["ModelProfile", "SimulatorConfig", "load_simulator_config"]


class ModelProfile(BaseModel):
    """How one simulated model answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Mean time before an answer, in milliseconds.
    latency_ms: float = Field(default=50.0, ge=0.0)
    #: Uniform spread around the mean, in milliseconds (latency is clamped at zero).
    latency_jitter_ms: float = Field(default=10.0, ge=0.0)
    #: Accepted requests per API key per 60 s sliding window; None means unlimited.
    rpm: int | None = Field(default=None, ge=1)
    #: Probability of answering 500/502/503 instead of a caption.
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Approximate caption length in tokens.
    output_tokens: int = Field(default=40, ge=1)


class SimulatorConfig(BaseModel):
    """Profiles by model name, a fallback for unknown models, and the seed of every draw."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, ModelProfile] = Field(default_factory=dict)
    default: ModelProfile = Field(default_factory=ModelProfile)
    seed: int = 0

    def profile(self, model: str) -> ModelProfile:
        """The profile for `model`, or `default` so any model name gets an answer."""
        return self.models.get(model, self.default)


def load_simulator_config(path: Path | None) -> SimulatorConfig:
    """Read a YAML simulator config; None gives the defaults.

    Raises ConfigError with one line naming the file and the bad key.
    """
    if path is None:
        return SimulatorConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read simulator config ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: simulator config must be a mapping, got {type(raw).__name__}")
    try:
        return SimulatorConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ConfigError(f"{path}: {key}: {first['msg']}") from exc
