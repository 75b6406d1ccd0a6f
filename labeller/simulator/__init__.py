"""A real HTTP server that impersonates VLM providers (OpenAI Chat Completions for now).

Latency, per-key RPM limits, faults and synthetic captions come from a SimulatorConfig, so
integration and chaos tests exercise the real wire path without paying for a model.
"""

from __future__ import annotations

from labeller.simulator.config import ModelProfile, SimulatorConfig, load_simulator_config
from labeller.simulator.server import SimulatorServer

__all__ = ["ModelProfile", "SimulatorConfig", "SimulatorServer", "load_simulator_config"]
