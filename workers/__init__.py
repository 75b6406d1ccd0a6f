"""The Celery layer: the app, its settings, the publisher and the tasks. Celery lives only here."""

from __future__ import annotations

from workers.publisher import CeleryPublisher, make_publisher

__all__ = ["CeleryPublisher", "make_publisher"]
