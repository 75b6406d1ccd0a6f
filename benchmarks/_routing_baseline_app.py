"""The baseline of bench_routing: plain Celery with its own per-task `rate_limit`.

What a team writes first: one task per provider, `rate_limit="<rpm>/m"`, each task one HTTP
call. Celery enforces `rate_limit` per worker instance (celery#5732), so N workers may send N
times the limit; the benchmark counts what that costs in 429s and utilisation.
"""

from __future__ import annotations

import base64
import io
import json
import os

import httpx
import numpy as np
from celery import Celery
from PIL import Image

LIMITS: dict[str, int] = json.loads(os.environ["BENCH_LIMITS"])
SIMULATOR = os.environ["BENCH_SIMULATOR"]
app = Celery("baseline", broker=os.environ["BENCH_BROKER"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True)
_image = io.BytesIO()
Image.fromarray(np.zeros((48, 64, 3), dtype=np.uint8)).save(_image, format="PNG")
_DATA_URI = "data:image/png;base64," + base64.b64encode(_image.getvalue()).decode()
_client = httpx.Client(timeout=30)


def _call(model: str) -> int:
    body = {
        "model": model,
        "max_tokens": 60,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the frame."},
                    {"type": "image_url", "image_url": {"url": _DATA_URI, "detail": "low"}},
                ],
            }
        ],
    }
    headers = {"Authorization": f"Bearer sk-bench-{model}"}
    return _client.post(f"{SIMULATOR}/v1/chat/completions", json=body, headers=headers).status_code


def _register(model: str, rpm: int) -> None:
    def call_provider() -> int:
        return _call(model)

    app.task(name=f"call.{model}", rate_limit=f"{rpm}/m")(call_provider)


for _model, _rpm in LIMITS.items():
    _register(_model, _rpm)
