"""Decode request images and count their prompt tokens by each provider's published rule.

The rules are the documented ones (OpenAI's 512 px tiles, Anthropic's pixels / 750 after its
resize, Gemini's 258-token tiles), not the services' exact internals: close enough that a cost
dry run and a TPM limit see realistic numbers.
"""

from __future__ import annotations

import io
import math

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["anthropic_tokens", "decode_rgb", "gemini_tokens", "openai_tokens"]

#: OpenAI: flat cost of every image, and the whole cost at detail "low", in tokens.
BASE_TOKENS = 85
#: OpenAI: cost of each 512 px tile at detail "high" or "auto", in tokens.
TILE_TOKENS = 170
_TILE_PX = 512
_FIT_PX = 2048
_SHORT_SIDE_PX = 768
#: Anthropic: pixels per token, the longest edge kept and the most tokens kept.
_ANTHROPIC_PX_PER_TOKEN = 750
_ANTHROPIC_EDGE_PX = 1568
_ANTHROPIC_MAX_TOKENS = 1600
#: Gemini: tokens of a small image or of one tile, the small-image bound and the tile side.
GEMINI_TILE_TOKENS = 258
_GEMINI_SMALL_PX = 384
_GEMINI_TILE_PX = 768


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8] | None:
    """Decode PNG/JPEG/GIF/WebP bytes to an (H, W, 3) uint8 array; None if unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return np.asarray(rgb, dtype=np.uint8)


def openai_tokens(width_px: int, height_px: int, detail: str) -> int:
    """OpenAI: 85 at low detail, else 85 + 170 per 512 px tile.

    High and auto detail first shrink the image to fit 2048 x 2048, then shrink it so the
    shortest side is 768 px; neither step enlarges a small image.
    """
    if detail == "low":
        return BASE_TOKENS
    fit = min(1.0, _FIT_PX / max(width_px, height_px))
    width, height = round(width_px * fit), round(height_px * fit)
    short = min(1.0, _SHORT_SIDE_PX / min(width, height))
    width, height = round(width * short), round(height * short)
    tiles = math.ceil(width / _TILE_PX) * math.ceil(height / _TILE_PX)
    return BASE_TOKENS + TILE_TOKENS * tiles


def anthropic_tokens(width_px: int, height_px: int) -> int:
    """Anthropic: ceil(w * h / 750) after shrinking, aspect kept, to a 1568 px long edge and
    about 1600 tokens (1.2 megapixels); a small image is never enlarged.
    """
    max_pixels = _ANTHROPIC_MAX_TOKENS * _ANTHROPIC_PX_PER_TOKEN
    scale = min(
        1.0,
        _ANTHROPIC_EDGE_PX / max(width_px, height_px),
        math.sqrt(max_pixels / (width_px * height_px)),
    )
    width = max(1, math.floor(width_px * scale))
    height = max(1, math.floor(height_px * scale))
    return math.ceil(width * height / _ANTHROPIC_PX_PER_TOKEN)


def gemini_tokens(width_px: int, height_px: int) -> int:
    """Gemini: 258 when both sides are at most 384 px, else 258 per 768 x 768 tile."""
    if width_px <= _GEMINI_SMALL_PX and height_px <= _GEMINI_SMALL_PX:
        return GEMINI_TILE_TOKENS
    tiles = math.ceil(width_px / _GEMINI_TILE_PX) * math.ceil(height_px / _GEMINI_TILE_PX)
    return GEMINI_TILE_TOKENS * tiles
