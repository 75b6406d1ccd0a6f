"""What every wire format shares: the parse error, the answer, the request's parts.

Each format module (`_openai`, `_anthropic`, `_gemini`) reads its own body, hands the engine a
`Call` and turns the `Outcome` into its own `Reply`; nothing here knows a provider's spelling.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from labeller.errors import LabellerError

__all__ = ["IMAGE_MEDIA_TYPES", "Reply", "WireError", "key_hash", "text_tokens"]

#: Media types every format accepts for base64 images.
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class WireError(LabellerError):
    """A request the real API refuses with 400; `param` and `code` as OpenAI names them.

    Private to the simulator: raised while parsing, answered as each format's 400.
    """

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass
class Reply:
    """One HTTP answer.

    `raw` replaces the JSON of `body` (a malformed answer); `drop` closes the connection
    without answering (a hang cut short by the server stopping).
    """

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    drop: bool = False


def key_hash(secret: str) -> str:
    """The only form in which a key or token is stored or shown: 12 hex digits of its sha256."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def text_tokens(text: str) -> int:
    """Rough tokenizer: four characters a token, every provider's own rule of thumb."""
    return math.ceil(len(text) / 4)
