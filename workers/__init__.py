"""The Celery layer: the app, its settings, the publisher and the tasks. Celery lives only here."""
