"""`python -m labeller.cli`."""

from __future__ import annotations

from labeller.cli import main

main()
