"""Decode request images and count their prompt tokens by OpenAI's published tiling rule."""

from __future__ import annotations

import io
import math

import numpy as np
import numpy.typing as npt
from PIL import Image

from labeller.simulator._openai import BAD_IMAGE, WireError

__all__ = ["decode_rgb", "image_tokens"]

#: Flat cost of every image, and the whole cost at detail "low", in tokens.
BASE_TOKENS = 85
#: Cost of each 512 px tile at detail "high" or "auto", in tokens.
TILE_TOKENS = 170
_TILE_PX = 512
_FIT_PX = 2048
_SHORT_SIDE_PX = 768


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode PNG/JPEG/GIF/WebP bytes to an (H, W, 3) uint8 array; WireError if unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise WireError(BAD_IMAGE, param="messages", code="invalid_image_format") from exc
    return np.asarray(rgb, dtype=np.uint8)


def image_tokens(width_px: int, height_px: int, detail: str) -> int:
    """Prompt tokens for one image: 85 at low detail, else 85 + 170 per 512 px tile.

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
