"""Label one frame: claim, read, render, encode, cache, take a slot, call, record."""

from __future__ import annotations

from labeller.pipeline.context import cache_key, frame_prompt, prompt_digest
from labeller.pipeline.label import Pipeline
from labeller.pipeline.messages import FrameMessage, Outcome, OutcomeKind
from labeller.pipeline.observer import NullObserver, PipelineObserver

__all__ = [
    "FrameMessage",
    "NullObserver",
    "Outcome",
    "OutcomeKind",
    "Pipeline",
    "PipelineObserver",
    "cache_key",
    "frame_prompt",
    "prompt_digest",
]
