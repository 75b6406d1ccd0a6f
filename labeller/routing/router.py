"""Which provider a frame goes to first (weights) and next (fallback chains)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from labeller.config import ProviderSettings
from labeller.errors import ConfigError

__all__ = ["Router"]


class Router:
    """Deterministic routing: the same job and frame always start at the same provider."""

    def __init__(self, providers: Sequence[ProviderSettings]) -> None:
        self._providers = list(providers)
        total = sum(p.weight for p in self._providers)
        cumulative = 0.0
        self._bounds: list[tuple[float, str]] = []
        for provider in self._providers:
            if provider.weight > 0:
                cumulative += provider.weight / total
                self._bounds.append((cumulative, provider.name))

    def first(self, job_id: str, frame: int) -> str:
        """Pick by weight with a hash of (job, frame): reproducible and evenly mixed."""
        digest = hashlib.blake2b(f"{job_id}:{frame}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        for bound, name in self._bounds:
            if u < bound:
                return name
        return self._bounds[-1][1]

    def next_after(self, provider: str, attempt: int) -> str:
        """The provider to try after `provider` failed on the frame's `attempt`-th call.

        Walks `provider`'s fallback chain; with no chain the frame stays where it is.
        """
        chain = next((p.fallback for p in self._providers if p.name == provider), None)
        if chain is None:
            raise ConfigError(f"providers: no provider named {provider!r}")
        if not chain:
            return provider
        return chain[(attempt - 1) % len(chain)]
