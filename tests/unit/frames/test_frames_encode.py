"""PNG/JPEG of RGB and grayscale frames round-trip through Pillow; max_side keeps the aspect."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from labeller.errors import ConfigError
from labeller.frames import EncodedImage, encode, encode_jpeg, encode_png


def decode(data: bytes) -> tuple[str, NDArray[np.uint8]]:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.format or "", np.asarray(picture.convert("RGB"))


def noise(height: int, width: int, seed: int = 0) -> NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def gradient(height: int, width: int) -> NDArray[np.uint8]:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) % 256], axis=2).astype(
        np.uint8
    )


def test_png_is_lossless() -> None:
    image = noise(37, 53)
    fmt, decoded = decode(encode_png(image))
    assert fmt == "PNG"
    np.testing.assert_array_equal(decoded, image)


def test_png_grayscale() -> None:
    image = noise(5, 6)[:, :, 0]
    with Image.open(io.BytesIO(encode_png(image))) as picture:
        np.testing.assert_array_equal(np.asarray(picture), image)


def test_jpeg_round_trip_is_close() -> None:
    image = gradient(48, 64)
    fmt, decoded = decode(encode_jpeg(image, quality=95))
    assert fmt == "JPEG" and decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 3


@pytest.mark.parametrize(("encoding", "media_type"), [("png", "image/png"), ("jpeg", "image/jpeg")])
def test_encode_reports_media_type_and_size(encoding: str, media_type: str) -> None:
    encoded = encode(gradient(30, 40), encoding)
    assert isinstance(encoded, EncodedImage)
    assert (encoded.media_type, encoded.width, encoded.height) == (media_type, 40, 30)
    fmt, decoded = decode(encoded.data)
    assert fmt == encoding.upper() and decoded.shape == (30, 40, 3)


@pytest.mark.parametrize(
    ("height", "width", "max_side", "expected"),
    [
        (480, 640, 100, (100, 75)),
        (720, 1280, 512, (512, 288)),
        (640, 480, 320, (240, 320)),
        (480, 640, 640, (640, 480)),
        (10, 20, 1000, (20, 10)),
        (3, 1000, 10, (10, 1)),
    ],
)
def test_max_side_downscales_keeping_aspect(
    height: int, width: int, max_side: int, expected: tuple[int, int]
) -> None:
    encoded = encode(noise(height, width), "png", max_side=max_side)
    assert (encoded.width, encoded.height) == expected
    _, decoded = decode(encoded.data)
    assert decoded.shape == (expected[1], expected[0], 3)


def test_jpeg_quality_changes_size() -> None:
    image = noise(64, 64)
    assert len(encode(image, "jpeg", quality=30).data) < len(encode(image, "jpeg").data)


def test_unknown_encoding_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="render.encoding 'webp' is unknown: expected one of jpeg, png"
    ):
        encode(noise(4, 4), "webp")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quality": 0}, "render.jpeg_quality"),
        ({"quality": 101}, "render.jpeg_quality"),
        ({"max_side": 0}, "render.max_side"),
    ],
)
def test_out_of_range_options(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        encode(noise(4, 4), "jpeg", **kwargs)


def test_png_compress_level_out_of_range() -> None:
    with pytest.raises(ConfigError, match="compress_level"):
        encode_png(noise(4, 4), compress_level=10)


def test_jpeg_quality_100_is_accepted() -> None:
    assert decode(encode(gradient(8, 8), "jpeg", quality=100).data)[0] == "JPEG"


@pytest.mark.parametrize("encoding", ["png", "jpeg"])
def test_grayscale_round_trip(encoding: str) -> None:
    image = gradient(48, 64)[:, :, 0].copy()
    encoded = encode(image, encoding, quality=95)
    assert (encoded.width, encoded.height) == (64, 48)
    with Image.open(io.BytesIO(encoded.data)) as picture:
        assert picture.mode == "L"
        decoded = np.asarray(picture)
    assert decoded.shape == image.shape
    if encoding == "png":
        np.testing.assert_array_equal(decoded, image)
    else:
        assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 3


def test_grayscale_shrinks_and_stays_grayscale() -> None:
    image = noise(480, 640)[:, :, 1].copy()
    encoded = encode(image, "png", max_side=160)
    with Image.open(io.BytesIO(encoded.data)) as picture:
        assert (picture.mode, picture.size) == ("L", (160, 120))
