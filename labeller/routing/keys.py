"""Every Redis key the router writes is built here, under one prefix (cf. arq's constants)."""

from __future__ import annotations

__all__ = ["rpm_key"]


def rpm_key(prefix: str, provider: str) -> str:
    """The sliding-window set of one provider's grants in the last minute."""
    return f"{prefix}:limit:rpm:{provider}"
