"""The Celery layer: the app, its settings, the publisher and the tasks. Celery lives only here."""

from __future__ import annotations

from workers.feeding import leadership_for
from workers.publisher import CeleryPublisher, make_publisher

__all__ = ["CeleryPublisher", "leadership_for", "make_publisher"]
