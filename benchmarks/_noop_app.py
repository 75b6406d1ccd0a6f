"""The ceiling of bench_pipeline: a Celery app whose one task does nothing.

It takes labeller's own Celery settings (`workers.settings.celery_config` of the settings named
by `LABELLER_CONFIG` and the `LABELLER_*` variables: acks_late, prefetch 1, reject on worker
lost, ignored results, task events, the same broker and transport options), and only its queue
and its task differ. Run with the same `--pool threads`, worker count and concurrency as the
pipeline, it drains as fast as Celery and the broker alone allow on this machine: no frame can
go faster. `BENCH_NOOP_EVENTS=0` turns task events off, to price them.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

from labeller.config import load_settings
from workers.settings import celery_config

#: The queue the no-op tasks travel on.
NOOP_QUEUE = "bench.noop"
#: The task's registered name.
NOOP_TASK = "bench.noop"

app = Celery("bench-noop", set_as_current=False)
_config = celery_config(load_settings())
_config.update(task_queues=[Queue(NOOP_QUEUE)], task_default_queue=NOOP_QUEUE)
if os.environ.get("BENCH_NOOP_EVENTS", "1") == "0":
    _config.update(worker_send_task_events=False, task_send_sent_event=False)
app.conf.update(_config)


@app.task(name=NOOP_TASK)
def noop() -> None:
    """Nothing: what is left is Celery's own cost of a task."""
