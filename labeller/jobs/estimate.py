"""Before paying: frames, tokens, cost per provider and mix, and the time the limits allow."""

from __future__ import annotations

from dataclasses import dataclass

from labeller.config import ProviderSettings, Settings
from labeller.frames import plan_windows
from labeller.providers import estimate_image_tokens, estimate_text_tokens
from labeller.recordings import Recording
from labeller.routing import call_cost, price_for

__all__ = ["Estimate", "ProviderEstimate", "estimate_job"]


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
        return sum(p.share * self.sent * p.cost_per_frame_usd for p in self.providers)

    @property
    def minutes(self) -> float | None:
        """Wall time the limits allow for the mix; None when no limit binds (latency decides)."""
        bounds = [
            p.frames_per_min / p.share
            for p in self.providers
            if p.share > 0 and p.frames_per_min is not None
        ]
        return self.sent / min(bounds) if bounds else None


def _scaled(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _frames_per_min(provider: ProviderSettings, tokens: int) -> float | None:
    bounds: list[float] = []
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


def estimate_job(recording: Recording, settings: Settings) -> Estimate:
    """Plan the windows (nothing is written) and price them under the configured mix."""
    frames = skipped = 0
    for window in plan_windows(recording, settings.binning):
        frames += 1
        skipped += window.event_count < settings.binning.min_events
    width, height = _scaled(recording.width, recording.height, settings.render.max_side)
    text = estimate_text_tokens(settings.prompt)
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
                _frames_per_min(provider, input_tokens + output),
            )
        )
    return Estimate(frames, skipped, width, height, providers)
