"""A real HTTP server that impersonates VLM providers: OpenAI, Anthropic, Gemini and Vertex AI.

Per-key, per-model RPM/TPM windows, latency distributions, injected 429s, overloads, faults,
hangs and malformed bodies, and synthetic captions come from a SimulatorConfig, so integration
and chaos tests exercise the real wire path without paying for a model.
"""

from __future__ import annotations

from labeller.simulator.config import (
    Latency,
    ModelProfile,
    SimulatorConfig,
    load_simulator_config,
)
from labeller.simulator.server import SimulatorServer

__all__ = ["Latency", "ModelProfile", "SimulatorConfig", "SimulatorServer", "load_simulator_config"]
