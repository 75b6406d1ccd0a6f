"""The Celery app that `celery -A workers.app worker|flower` loads; configured on first use.

Configuration is read when Celery first needs it, not at import, from `labeller.yaml` named by
`LABELLER_CONFIG` and the `LABELLER_*` environment variables.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

from labeller.config import load_settings
from labeller.errors import StoreError
from labeller.pipeline import FrameMessage
from workers.feeding import start_feeder, stop_feeder
from workers.metrics import serve_metrics, start_metrics, stop_metrics
from workers.publisher import LABEL_FRAME
from workers.runtime import close_runtime, get_runtime
from workers.settings import celery_config

__all__ = ["app", "label_frame"]

app = Celery("labeller")


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(load_settings()))


@signals.worker_init.connect
def _start_metrics(**_: Any) -> None:
    start_metrics(app)


@signals.worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    serve_metrics()


@signals.worker_ready.connect
def _start_feeder(**_: Any) -> None:
    start_feeder(app)


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _close(**_: Any) -> None:
    stop_feeder()
    close_runtime()
    stop_metrics()


@app.task(
    name=LABEL_FRAME,
    # A database that is away for a while makes the frame wait, not vanish.
    autoretry_for=(StoreError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=30,
)
def label_frame(
    job: str, frame: int, i_start: int, i_end: int, t_start_us: int, t_end_us: int, provider: str
) -> str:
    """Caption one frame; a frame that must wait or fall back goes back to the feeder."""
    runtime = get_runtime(app)
    message = FrameMessage(job, frame, i_start, i_end, t_start_us, t_end_us, provider)
    return runtime.pipeline.label(message).kind.value
