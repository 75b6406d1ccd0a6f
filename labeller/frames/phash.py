"""Fingerprints of rendered frames for the caption cache: an exact digest and a perceptual hash.

`image_digest` names byte-identical images (exact reuse across jobs). `perceptual_hash` is a
64-bit difference hash (dHash): the frame in grayscale, area-averaged down to 9 × 8 cells, one
bit per pair of horizontal neighbours, set where the right cell is brighter. Frames that look
alike differ in few bits (`hamming`), whatever their size or small noise.

Event frames are mostly background: sparse noise events make neighbouring cells differ a
little, and a plain `>` would turn that into random bits, putting two near-empty frames ~32
bits apart. A bit is therefore set only when the right cell is brighter by more than what
pixel noise explains: `_NOISE_SIGMAS` standard deviations of the difference of two cell means,
the pixel noise being estimated from neighbouring pixels' differences (so smooth structure,
which is spatially correlated, does not count as noise). Near-empty frames hash to (nearly)
zero and match each other; shapes, which light many pixels of a cell together, still set bits.

The hash is returned in the signed 64-bit range, so it fits a SQL BIGINT as is. Grayscale is
Pillow's integer "L" conversion (ITU-R 601 luma), the rest numpy: deterministic.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["hamming", "image_digest", "perceptual_hash", "thumbnail", "thumbnail_distance"]

#: Cells across and down the downscaled image (9 columns give 8 comparisons per row).
_COLUMNS: Final = 9
_ROWS: Final = 8
#: Smallest brightness step (grey levels of 255) between neighbouring cells that sets a bit.
_MIN_STEP_GRAY: Final = 0.5
#: How many standard deviations of noise a step must exceed to set a bit (~0.1% false bits).
_NOISE_SIGMAS: Final = 3.0
_MASK64: Final = (1 << 64) - 1
#: Hex characters of the sha256 kept by `image_digest` (128 bits).
_DIGEST_CHARS: Final = 32


def image_digest(data: bytes) -> str:
    """The first 32 hex characters of sha256(`data`): equal for byte-identical images only."""
    return hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]


def perceptual_hash(image: NDArray[np.uint8]) -> int:
    """The 64-bit dHash of an (H, W, 3) RGB or (H, W) grayscale uint8 image, as a signed int.

    Bit 63 (the sign) is the top-left comparison, bit 0 the bottom-right. Raises `ValueError`
    for an empty image or one of another shape.
    """
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or 0 in image.shape:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, 3) image, got {image.shape}")
    if image.ndim == 3:
        # Pillow's integer luma: ~2 ms at 1280x720 where float64 numpy takes ~20 ms.
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("L"))
    height, width = image.shape
    # Columns first, on the integers (exact), then rows on the 9 column means. No matrix product:
    # it woke BLAS's thread pool, whose spinning threads then burnt CPU through every other step
    # of the frame (a worker's CPU a frame went from ~30 to ~20 ms in bench_pipeline.py).
    cells = _area_means(_area_means(image, _COLUMNS).T, _ROWS).T
    step = _step(image, cell_pixels=height * width / (_ROWS * _COLUMNS))
    bits = (cells[:, 1:] - cells[:, :-1]) > step
    value = 0
    for bit in bits.ravel():
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >> 63 else value


def hamming(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes differ (0..64); signed and unsigned forms compare alike."""
    return ((a ^ b) & _MASK64).bit_count()


def _step(gray: NDArray[np.uint8], *, cell_pixels: float) -> float:
    """The brightness step (grey levels) a cell must exceed over its left neighbour.

    Pixel noise is `rms(horizontal neighbour differences) / sqrt(2)`; the mean of a cell of
    `cell_pixels` then varies by `noise / sqrt(cell_pixels)`, a difference of two by `sqrt(2)`
    times that. Assumes independent noise pixels, as an event sensor's are.
    """
    if gray.shape[1] < 2:
        return _MIN_STEP_GRAY
    wide = gray.astype(np.int16)
    steps = wide[:, 1:] - wide[:, :-1]
    # An exact integer sum of squares: the threshold does not depend on summation order.
    squares = int(np.einsum("ij,ij->", steps, steps, dtype=np.int64))
    noise = math.sqrt(squares / steps.size / 2.0)
    return max(_MIN_STEP_GRAY, _NOISE_SIGMAS * noise * math.sqrt(2.0 / cell_pixels))


def _area_means(values: NDArray[np.generic], cells: int) -> NDArray[np.float64]:
    """Each row of `values` (n, pixels) averaged into `cells` equal spans along its last axis.

    Cell `i` covers `[i * pixels / cells, (i + 1) * pixels / cells)`, partial pixels pro rata,
    from whole-pixel block sums (`np.add.reduceat`, exact in int64 for integer input) plus the
    fractional pixel at each span edge: O(n × pixels), no matrix product.
    """
    pixels = values.shape[1]
    edges = np.arange(cells + 1) * (pixels / cells)
    # The whole pixel holding each edge, and how far into it the edge lies; the last edge is the
    # end of the last pixel (fraction 1), which keeps every index inside the row.
    whole = np.minimum(np.floor(edges).astype(np.intp), pixels - 1)
    fraction = edges - whole
    starts = np.unique(whole)
    accumulate = np.int64 if np.issubdtype(values.dtype, np.integer) else np.float64
    blocks = np.add.reduceat(values, starts, axis=1, dtype=accumulate)
    # Prefix sums at each distinct edge pixel, then at each edge (edges may share a pixel).
    prefix = np.zeros((values.shape[0], starts.size), dtype=np.float64)
    np.cumsum(blocks[:, :-1], axis=1, out=prefix[:, 1:])
    at_edge = prefix[:, np.searchsorted(starts, whole)]
    integral = at_edge + fraction * values[:, whole]
    means: NDArray[np.float64] = (integral[:, 1:] - integral[:, :-1]) / (pixels / cells)
    return means


#: Size of the thumbnail that confirms a perceptual-hash match (columns, rows).
THUMBNAIL_SIZE: Final = (32, 24)


def thumbnail(image: NDArray[np.uint8]) -> bytes:
    """A 32 × 24 area-averaged grayscale copy (768 bytes) that confirms a near-duplicate.

    The 64-bit hash's 9 × 8 cells are too coarse for event frames: a shape that moved a few
    pixels leaves them unchanged. On this grid the sample's moving frames differ by at least 10
    grey levels in some cell, its static (noise-only) frames by at most 3.
    """
    picture = Image.fromarray(np.ascontiguousarray(image)).convert("L")
    return picture.resize(THUMBNAIL_SIZE, Image.Resampling.BOX).tobytes()


def thumbnail_distance(a: bytes, b: bytes) -> int:
    """The largest difference (grey levels) between two thumbnails' cells; 255 if sizes differ."""
    if len(a) != len(b):
        return 255
    left = np.frombuffer(a, dtype=np.uint8).astype(np.int16)
    right = np.frombuffer(b, dtype=np.uint8).astype(np.int16)
    return int(np.abs(left - right).max()) if left.size else 0
