"""Frame fingerprints: the exact digest, and a perceptual hash that shrugs off noise only."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from labeller.frames import hamming, image_digest, perceptual_hash

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def scene(seed: int, height: int = 120, width: int = 160) -> NDArray[np.uint8]:
    """A smooth random RGB picture: a coarse random grid upscaled bilinearly."""
    coarse = np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    picture = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(picture)


def sparse_events(
    seed: int, lit: int = 300, height: int = 480, width: int = 640
) -> NDArray[np.uint8]:
    """A dark event frame: `lit` random pixels in the ON or OFF colour on the background."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = (16, 16, 24)
    ys, xs = rng.integers(0, height, lit), rng.integers(0, width, lit)
    on = rng.random(lit) < 0.5
    image[ys[on], xs[on]] = (255, 170, 60)
    image[ys[~on], xs[~on]] = (60, 150, 255)
    return image


def test_identical_images_hash_alike() -> None:
    image = scene(1)

    assert perceptual_hash(image) == perceptual_hash(image.copy())
    assert hamming(perceptual_hash(image), perceptual_hash(image.copy())) == 0


def test_small_noise_moves_few_bits() -> None:
    image = scene(2)
    noise = np.random.default_rng(3).normal(0, 6, image.shape)
    noisy = np.clip(image + noise, 0, 255).astype(np.uint8)

    assert hamming(perceptual_hash(image), perceptual_hash(noisy)) <= 3


@pytest.mark.parametrize(("a", "b"), [(4, 5), (6, 7), (8, 9)])
def test_different_scenes_are_far_apart(a: int, b: int) -> None:
    assert hamming(perceptual_hash(scene(a)), perceptual_hash(scene(b))) >= 16


def test_dark_near_empty_frames_are_near_each_other() -> None:
    hashes = [perceptual_hash(sparse_events(seed)) for seed in range(5)]

    for other in hashes[1:]:
        assert hamming(hashes[0], other) <= 3


def test_a_shape_on_an_empty_frame_is_far_from_the_empty_frame() -> None:
    empty = sparse_events(0)
    shape = empty.copy()
    shape[100:140, 200:400] = (255, 170, 60)
    shape[300:340, 100:300] = (60, 150, 255)

    assert hamming(perceptual_hash(empty), perceptual_hash(shape)) >= 4


def test_the_same_scene_at_another_size_hashes_alike() -> None:
    image = scene(10, height=240, width=320)
    half = np.asarray(Image.fromarray(image).resize((160, 120), Image.Resampling.BOX))

    assert hamming(perceptual_hash(image), perceptual_hash(half)) <= 3


def test_grayscale_equals_its_rgb_copy() -> None:
    gray = np.asarray(Image.fromarray(scene(11)).convert("L"))

    assert perceptual_hash(gray) == perceptual_hash(np.stack([gray] * 3, axis=2))


def test_gradients_set_every_bit_or_none_in_the_signed_range() -> None:
    rising = np.tile(np.linspace(0, 255, 90).astype(np.uint8), (80, 1))

    assert perceptual_hash(rising) == -1  # all 64 bits set, as a signed int64
    assert perceptual_hash(rising[:, ::-1].copy()) == 0
    assert perceptual_hash(np.full((80, 90), 128, dtype=np.uint8)) == 0


def test_only_the_top_left_step_sets_the_sign_bit() -> None:
    image = np.zeros((80, 90), dtype=np.uint8)
    image[:10, 10:20] = 255  # cell (0, 1) brighter than cell (0, 0): bit 63

    value = perceptual_hash(image)

    assert value == INT64_MIN
    assert INT64_MIN <= perceptual_hash(scene(12)) <= INT64_MAX


def test_hamming_counts_bits_whatever_the_sign() -> None:
    assert hamming(-1, 0) == 64
    assert hamming(-1, (1 << 64) - 1) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(INT64_MIN, 0) == 1
    assert hamming(5, 9) == hamming(9, 5)


def test_tiny_and_odd_sizes_hash() -> None:
    for shape in [(1, 1), (3, 2), (8, 9), (7, 13, 3), (480, 641, 3)]:
        image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        assert INT64_MIN <= perceptual_hash(image) <= INT64_MAX


@pytest.mark.parametrize("shape", [(0, 5), (5, 0, 3), (4, 4, 4), (4,), (2, 2, 2, 3)])
def test_bad_shapes_raise(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="image"):
        perceptual_hash(np.zeros(shape, dtype=np.uint8))


def test_image_digest_names_exact_bytes() -> None:
    digest = image_digest(b"\x89PNG frame")

    assert len(digest) == 32 and int(digest, 16) >= 0
    assert digest == image_digest(b"\x89PNG frame")
    assert digest != image_digest(b"\x89PNG frame ")
    assert image_digest(b"") == "e3b0c44298fc1c149afbf4c8996fb924"  # sha256 of nothing
