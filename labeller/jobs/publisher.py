"""The seam between job logic and the broker: the workers layer supplies the implementation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from labeller.pipeline import FrameMessage

__all__ = ["Publisher"]


class Publisher(Protocol):
    def check(self) -> None:
        """Raise BrokerUnavailable (or ConfigError for a bad URL) unless the broker answers."""
        ...

    def publish(self, messages: Sequence[FrameMessage]) -> None:
        """Put each message on its provider's queue (`vlm.<provider>`), in bulk."""
        ...

    def messages_lost(self) -> bool:
        """True if the broker lost its queued messages since the last publish or call (a
        restarted Redis without persistence); False where the broker cannot tell or keeps them.
        """
        ...
