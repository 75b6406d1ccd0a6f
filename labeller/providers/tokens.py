"""Input tokens an image or a prompt will cost, before the call: what the limiter reserves.

Each provider's published rule, not a measurement; the response's usage settles the real count.
Where a rule is approximate the estimate leans high, since reserving too little overruns TPM.
"""

from __future__ import annotations

import math

from labeller.config import ProviderSettings

__all__ = ["estimate_image_tokens", "estimate_text_tokens"]

# OpenAI, https://platform.openai.com/docs/guides/images-vision ("Calculating costs", GPT-4o
# and GPT-4.1 family): `low` is a flat 85; `high`/`auto` fit the image in 2048x2048, scale
# its shortest side down to 768, then cost 170 per 512px tile plus 85.
_OPENAI_LOW = 85
_OPENAI_BASE = 85
_OPENAI_TILE = 170
# Anthropic, https://docs.anthropic.com/en/docs/build-with-claude/vision ("Evaluate image
# size"): an image whose long edge exceeds 1568 px, or that would cost more than ~1,600 tokens,
# is first scaled down, keeping its aspect; then tokens = width * height / 750. The ~1,600
# tokens (1.2 MP) bound keeps the page's "not resized" sizes (1092x1092, 951x1268) as they are.
_ANTHROPIC_LONG_EDGE = 1568
_ANTHROPIC_MAX_TOKENS = 1600
_ANTHROPIC_PX_PER_TOKEN = 750
# Gemini API and Vertex AI, https://ai.google.dev/gemini-api/docs/tokens ("Multimodal tokens",
# Gemini 2.0 and later): both sides <= 384 px cost 258; larger images are cropped and scaled
# into tiles of up to 768x768, 258 each. The tile side is min(width, height) / 1.5, kept
# within 256..768 (the crop-unit rule of Google's token-counting notes).
_GEMINI_TOKENS = 258
_GEMINI_SMALL = 384
_GEMINI_TILE_MIN, _GEMINI_TILE_MAX = 256.0, 768.0


def _check(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")


def _openai(width: int, height: int, detail: str) -> int:
    if detail == "low":
        return _OPENAI_LOW
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(round(w) / 512) * math.ceil(round(h) / 512)
    return _OPENAI_BASE + _OPENAI_TILE * tiles


def _anthropic(width: int, height: int) -> int:
    max_px = _ANTHROPIC_MAX_TOKENS * _ANTHROPIC_PX_PER_TOKEN
    scale = min(
        1.0, _ANTHROPIC_LONG_EDGE / max(width, height), math.sqrt(max_px / (width * height))
    )
    # The epsilon keeps 3000 * (1568 / 3000) at 1568, not 1567.
    w = max(1, math.floor(width * scale + 1e-6))
    h = max(1, math.floor(height * scale + 1e-6))
    return math.ceil(w * h / _ANTHROPIC_PX_PER_TOKEN)


def _gemini(width: int, height: int) -> int:
    if width <= _GEMINI_SMALL and height <= _GEMINI_SMALL:
        return _GEMINI_TOKENS
    tile = min(_GEMINI_TILE_MAX, max(_GEMINI_TILE_MIN, min(width, height) / 1.5))
    return _GEMINI_TOKENS * math.ceil(width / tile) * math.ceil(height / tile)


def estimate_image_tokens(provider: ProviderSettings, width: int, height: int) -> int:
    """Input tokens one `width` x `height` px image costs on `provider`'s wire format.

    OpenAI-compatible servers are counted by OpenAI's rule with the provider's `detail`.
    Raises ValueError for a non-positive size.
    """
    _check(width, height)
    if provider.kind == "anthropic":
        return _anthropic(width, height)
    if provider.kind in ("gemini", "vertex"):
        return _gemini(width, height)
    return _openai(width, height, provider.detail)


def estimate_text_tokens(text: str) -> int:
    """About four characters a token (the rule of thumb OpenAI and Google both publish)."""
    return math.ceil(len(text) / 4)
