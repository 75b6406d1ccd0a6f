"""Before paying: frames, tokens, cost per provider and mix, and the time the limits allow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labeller.config import PromptFacts, ProviderSettings, Settings, render_prompt
from labeller.frames import Window, plan_windows
from labeller.providers import estimate_image_tokens, estimate_text_tokens
from labeller.recordings import Recording
from labeller.routing import call_cost, price_for

__all__ = [
    "Estimate",
    "ProviderEstimate",
    "estimate_job",
    "frames_per_min",
    "mix_cost_usd",
    "mix_minutes",
]


@dataclass(frozen=True)
class ProviderEstimate:
    name: str
    model: str
    #: Share of frames the weights send here.
    share: float
    input_tokens_per_frame: int
    output_tokens_per_frame: int
    cost_per_frame_usd: float
    #: Frames per minute this provider's RPM and TPM limits allow; None = unlimited.
    frames_per_min: float | None


@dataclass(frozen=True)
class Estimate:
    frames: int
    skipped: int
    image_width: int
    image_height: int
    providers: list[ProviderEstimate]

    @property
    def sent(self) -> int:
        return self.frames - self.skipped

    @property
    def cost_usd(self) -> float:
        """Cost of the configured mix (before cache hits, which only lower it)."""
        return mix_cost_usd(self.sent, self.providers)

    @property
    def minutes(self) -> float | None:
        """Wall time the limits allow for the mix; None when no limit binds (latency decides)."""
        return mix_minutes(self.sent, self.providers)


def mix_cost_usd(frames: int, providers: Sequence[ProviderEstimate]) -> float:
    """Cost (USD) of `frames` sent in the providers' shares."""
    return sum(p.share * frames * p.cost_per_frame_usd for p in providers)


def mix_minutes(frames: int, providers: Sequence[ProviderEstimate]) -> float | None:
    """Minutes the limits allow for `frames` in the providers' shares: the provider whose
    limit its share saturates first sets the pace. None when no limit binds."""
    bounds = [
        p.frames_per_min / p.share
        for p in providers
        if p.share > 0 and p.frames_per_min is not None
    ]
    return frames / min(bounds) if bounds else None


def _scaled(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def frames_per_min(
    provider: ProviderSettings, tokens: float, latency_s: float | None = None
) -> float | None:
    """Frames a minute the provider's RPM, TPM and per-key limits allow at `tokens` a call, and
    its `max_in_flight` too when the call latency is known (a pilot measures it).
    None when nothing binds."""
    bounds: list[float] = []
    if provider.max_in_flight and latency_s:
        bounds.append(provider.max_in_flight * 60.0 / latency_s)
    keys = provider.key_list
    if provider.rpm:
        bounds.append(provider.rpm)
    if provider.tpm:
        bounds.append(provider.tpm / tokens)
    if keys and all(k.rpm for k in keys):
        bounds.append(sum(k.rpm or 0 for k in keys))
    if keys and all(k.tpm for k in keys):
        bounds.append(sum(k.tpm or 0 for k in keys) / tokens)
    return min(bounds) if bounds else None


def _prompt_facts(recording: Recording, settings: Settings, window: Window) -> PromptFacts:
    return PromptFacts(
        recording=str(recording.path),
        frame=window.index,
        t_start_us=window.t_start_us,
        t_end_us=window.t_end_us,
        origin_us=recording.t_start_us,
        event_count=window.event_count,
        renderer=settings.render.mode,
        width=recording.width,
        height=recording.height,
    )


def estimate_job(recording: Recording, settings: Settings) -> Estimate:
    """Plan the windows (nothing is written) and price them under the configured mix."""
    frames = skipped = 0
    # A template's text varies by a few digits between frames: the first frame's stands for all.
    prompt = settings.prompt
    for window in plan_windows(recording, settings.binning):
        if frames == 0:
            prompt = render_prompt(settings.prompt, _prompt_facts(recording, settings, window))
        frames += 1
        skipped += window.event_count < settings.binning.min_events
    width, height = _scaled(recording.width, recording.height, settings.render.max_side)
    text = estimate_text_tokens(prompt)
    output = settings.routing.output_tokens_estimate
    total_weight = sum(p.weight for p in settings.providers)
    providers = []
    for provider in settings.providers:
        input_tokens = text + estimate_image_tokens(provider, width, height)
        cost = call_cost(price_for(provider), input_tokens, output)
        providers.append(
            ProviderEstimate(
                provider.name,
                provider.model,
                provider.weight / total_weight,
                input_tokens,
                output,
                cost,
                frames_per_min(provider, input_tokens + output),
            )
        )
    return Estimate(frames, skipped, width, height, providers)
