"""Token estimates on known sizes, worked by hand from each provider's published rule."""

from __future__ import annotations

from typing import Any

import pytest

from labeller.config import ProviderSettings
from labeller.providers import estimate_image_tokens, estimate_text_tokens


def provider(kind: str, **changes: Any) -> ProviderSettings:
    fields: dict[str, Any] = {"name": kind, "kind": kind, "model": "m"}
    if kind == "vertex":
        fields["project"] = "p"
    fields.update(changes)
    return ProviderSettings(**fields)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (640, 480), (8192, 4096)])
def test_openai_low_detail_is_a_flat_85(width: int, height: int) -> None:
    assert estimate_image_tokens(provider("openai", detail="low"), width, height) == 85


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        (1024, 1024, 765),  # -> 768x768: 4 tiles (OpenAI's own example)
        (2048, 4096, 1105),  # -> 1024x2048 -> 768x1536: 6 tiles (OpenAI's own example)
        (4096, 8192, 1105),  # fit in 2048 first, then as above
        (512, 512, 255),  # one tile, never scaled up
        (100, 50, 255),
        (640, 480, 425),  # short side under 768: 2x1 tiles
        (1280, 720, 1105),  # short side 720: 3x2 tiles
        (513, 512, 425),
    ],
)
@pytest.mark.parametrize("detail", ["high", "auto"])
def test_openai_high_and_auto_count_512_tiles(
    width: int, height: int, tokens: int, detail: str
) -> None:
    assert estimate_image_tokens(provider("openai", detail=detail), width, height) == tokens


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        (200, 200, 54),  # Anthropic's table: ~54
        (1000, 1000, 1334),  # ~1334
        (1092, 1092, 1590),  # ~1590, the largest square left as it is
        (640, 480, 410),
        (1280, 720, 1229),
        (3000, 1000, 1092),  # long edge to 1568 -> 1568x522
        (4000, 4000, 1599),  # area bound -> 1095x1095
        (10000, 10, 3),  # 1568x1: 2.09, rounded up
    ],
)
def test_anthropic_counts_pixels_over_750_after_resizing(
    width: int, height: int, tokens: int
) -> None:
    assert estimate_image_tokens(provider("anthropic"), width, height) == tokens


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        (384, 384, 258),
        (300, 200, 258),
        (385, 100, 516),  # tile 256 (floor of the rule): 2x1
        (640, 480, 1032),  # tile 320: 2x2
        (960, 540, 1548),  # tile 360: 3x2
        (1280, 720, 1548),  # tile 480: 3x2
        (1920, 1080, 1548),  # tile 720: 3x2
        (3840, 2160, 3870),  # tile capped at 768: 5x3
    ],
)
@pytest.mark.parametrize("kind", ["gemini", "vertex"])
def test_gemini_and_vertex_count_258_per_tile(
    width: int, height: int, tokens: int, kind: str
) -> None:
    assert estimate_image_tokens(provider(kind), width, height) == tokens


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (-1, 5)])
def test_non_positive_sizes_are_refused(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        estimate_image_tokens(provider("openai"), width, height)


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("abcd", 1), ("abcde", 2), ("x" * 401, 101)])
def test_text_is_about_four_characters_a_token(text: str, tokens: int) -> None:
    assert estimate_text_tokens(text) == tokens
