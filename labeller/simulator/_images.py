"""Decode request images and count their prompt tokens by each provider's published rule.

The rules are the documented ones (OpenAI's 512 px tiles, Anthropic's pixels / 750 after its
resize, Gemini's 258-token tiles), not the services' exact internals: close enough that a cost
dry run and a TPM limit see realistic numbers.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "DESCRIBED_PIXELS",
    "Picture",
    "anthropic_tokens",
    "gemini_tokens",
    "open_picture",
    "openai_tokens",
]

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


#: Most pixels a caption is measured on: a larger image is described from a copy reduced by a
#: power of two (for JPEG, by the decoder's DCT scaling, which skips most of the decoding).
#: 640x480 is described at 160x120: a JPEG request's decode and description take ~1 ms of
#: simulator CPU instead of ~6.5 ms at full size, with the same caption to a percent or two.
DESCRIBED_PIXELS = 20_000


@dataclass(frozen=True)
class Picture:
    """A decoded request image: its size (pixels) and the RGB pixels its caption is read from."""

    width: int
    height: int
    #: (h, w, 3) uint8: the image itself, or a reduced copy when it has more than
    #: DESCRIBED_PIXELS pixels.
    rgb: npt.NDArray[np.uint8]


def _reduction(width: int, height: int) -> int:
    """The smallest power of two that brings `width` x `height` within DESCRIBED_PIXELS."""
    step = 1
    while (width // step) * (height // step) > DESCRIBED_PIXELS:
        step *= 2
    return step


def open_picture(data: bytes) -> Picture | None:
    """Decode PNG/JPEG/GIF/WebP bytes (reduced if large, see DESCRIBED_PIXELS); None if
    unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            step = _reduction(width, height)
            if step > 1 and image.format == "JPEG":
                image.draft("RGB", (max(1, width // step), max(1, height // step)))
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    # Whatever the decoder did not reduce (other formats, or a JPEG scale it lacks) is sampled.
    left = _reduction(rgb.shape[1], rgb.shape[0])
    if left > 1:
        rgb = np.ascontiguousarray(rgb[::left, ::left])
    return Picture(width, height, rgb)


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
