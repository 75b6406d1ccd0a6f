"""Image encoders: an RGB or grayscale frame to the PNG or JPEG bytes a provider request carries.

PNG is lossless but slow (~44 ms at 1280×720, level 1); JPEG q90 takes ~6 ms, so the encoder,
not the binning, is where a frame's CPU goes. `max_side` shrinks large sensors first, since
providers bill image tokens by pixel count. A `(H, W)` array is encoded as one-channel
grayscale (PNG "L", grayscale JPEG), a third of the bytes to compress and to send.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from labeller.errors import ConfigError

__all__ = ["ENCODINGS", "EncodedImage", "encode", "encode_jpeg", "encode_png"]

#: Media type of each encoding name configuration accepts.
ENCODINGS: Final = {"jpeg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class EncodedImage:
    """Encoded bytes, their media type ("image/png" or "image/jpeg") and size (pixels)."""

    data: bytes
    media_type: str
    width: int
    height: int


def encode_png(image: NDArray[np.uint8], *, compress_level: int = 1) -> bytes:
    """PNG bytes of an (H, W, 3) or (H, W) uint8 image; level 1 trades size for speed."""
    return _png(Image.fromarray(image), compress_level)


def encode_jpeg(image: NDArray[np.uint8], *, quality: int = 90) -> bytes:
    """JPEG bytes of an (H, W, 3) or (H, W) uint8 image at `quality` (1..100)."""
    return _jpeg(Image.fromarray(image), quality)


def encode(
    image: NDArray[np.uint8],
    encoding: str,
    *,
    quality: int = 90,
    max_side: int | None = None,
) -> EncodedImage:
    """Encode an (H, W, 3) RGB or (H, W) grayscale uint8 image as `encoding` ("png" or "jpeg").

    The image is first shrunk, keeping its aspect ratio, so no side exceeds `max_side` pixels;
    `quality` applies to JPEG only. Raises `ConfigError` naming the setting for an unknown
    encoding or an out-of-range `quality` or `max_side`.
    """
    media_type = ENCODINGS.get(encoding)
    if media_type is None:
        raise ConfigError(
            f"render.encoding {encoding!r} is unknown: expected one of "
            f"{', '.join(sorted(ENCODINGS))}"
        )
    picture = Image.fromarray(image)
    if max_side is not None:
        picture = _shrink(picture, max_side)
    data = _png(picture, 1) if encoding == "png" else _jpeg(picture, quality)
    return EncodedImage(data, media_type, picture.width, picture.height)


def _shrink(picture: Image.Image, max_side: int) -> Image.Image:
    if max_side < 1:
        raise ConfigError(f"render.max_side must be a positive number of pixels, got {max_side}")
    longest = max(picture.width, picture.height)
    if longest <= max_side:
        return picture
    scale = max_side / longest
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    # Area averaging: an isolated event pixel fades rather than vanishing or ringing.
    return picture.resize(size, Image.Resampling.BOX)


def _png(picture: Image.Image, compress_level: int) -> bytes:
    if not 0 <= compress_level <= 9:
        raise ConfigError(f"PNG compress_level must be in [0, 9], got {compress_level}")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def _jpeg(picture: Image.Image, quality: int) -> bytes:
    # Pillow accepts up to 100 (as `render.jpeg_quality` does); above 95 only grows the file.
    if not 1 <= quality <= 100:
        raise ConfigError(f"render.jpeg_quality must be in [1, 100], got {quality}")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
