"""How the simulator behaves per model: latency, rate limits, injected failures, caption length.

Profiles are frozen so a running server never sees them change under its threads.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from labeller.errors import ConfigError

__all__ = ["Latency", "ModelProfile", "SimulatorConfig", "load_simulator_config"]


class Latency(StrEnum):
    """How a profile draws the time before an answer."""

    #: Always `latency_ms`.
    fixed = "fixed"
    #: Uniform in `latency_ms` ± `latency_jitter_ms`, clamped at zero.
    uniform = "uniform"
    #: Lognormal with mean `latency_ms` and `latency_sigma` the sigma of its logarithm: the long
    #: right tail real services show under load.
    lognormal = "lognormal"


class ModelProfile(BaseModel):
    """How one simulated model answers, per API key: limits, latency and injected failures.

    The five `*_rate` fields are fractions of the requests that pass auth and validation, drawn
    from one uniform number per request, so together they may not exceed 1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Mean time before an answer, in milliseconds.
    latency_ms: float = Field(default=50.0, ge=0.0)
    #: Uniform spread around the mean, in milliseconds (latency is clamped at zero).
    latency_jitter_ms: float = Field(default=10.0, ge=0.0)
    #: Shape of the latency distribution.
    latency: Latency = Latency.uniform
    #: Sigma of ln(latency) for `latency: lognormal`; dimensionless.
    latency_sigma: float = Field(default=0.5, ge=0.0)
    #: Accepted requests per API key per 60 s sliding window; None means unlimited.
    rpm: int | None = Field(default=None, ge=1)
    #: Prompt plus completion tokens per API key per 60 s sliding window; None means unlimited.
    tpm: int | None = Field(default=None, ge=1)
    #: Probability of a 429 whatever the windows hold (the real services shed load this way).
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Probability of an overload answer: 529 in the Anthropic format, 503 in the others.
    overload_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Probability of answering 500 instead of a caption.
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Probability of hanging `timeout_s` before answering, so client timeouts fire.
    timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: How long a drawn timeout hangs, in seconds.
    timeout_s: float = Field(default=600.0, ge=0.0)
    #: Probability of a 200 whose JSON body is cut in half.
    malformed_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Approximate caption length in tokens.
    output_tokens: int = Field(default=40, ge=1)

    @model_validator(mode="after")
    def _rates_fit(self) -> ModelProfile:
        total = (
            self.rate_limit_rate
            + self.overload_rate
            + self.fault_rate
            + self.timeout_rate
            + self.malformed_rate
        )
        if total > 1.0 + 1e-9:
            raise ValueError(f"the *_rate fields add up to {total:g}, more than 1")
        return self


class SimulatorConfig(BaseModel):
    """Profiles by model name, a fallback for unknown models, and the seed of every draw."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, ModelProfile] = Field(default_factory=dict)
    default: ModelProfile = Field(default_factory=ModelProfile)
    seed: int = 0
    #: Bearer tokens the Vertex AI path accepts without a `/token` grant, each its own key: a
    #: dry run (`labeller run --simulate`) sends this one, so its workers need no service
    #: account.
    vertex_static_tokens: list[str] = Field(default_factory=lambda: ["sk-simulated-labeller"])

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
